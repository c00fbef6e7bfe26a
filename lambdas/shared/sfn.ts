import { SFNClient } from "@aws-sdk/client-sfn";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnTaskTokens } from "../../src/adapters/sfn-task-tokens.ts";
import type { Executions, TaskTokens } from "../../src/ports/orchestration.ts";

let client: SFNClient | undefined;
/** The container's one Step Functions client. */
const sfn = (): SFNClient => {
  client ??= new SFNClient({});
  return client;
};

/** Settles callback tasks through Step Functions (SendTaskSuccess, SendTaskFailure). */
export function buildAwsTokens(): TaskTokens {
  return createSfnTaskTokens(sfn());
}

/** Whether a lock holder's execution still runs (DescribeExecution). */
export function buildAwsExecutions(): Executions {
  return createSfnExecutions(sfn());
}
