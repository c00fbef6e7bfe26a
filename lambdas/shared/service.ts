import { SFNClient } from "@aws-sdk/client-sfn";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnOrchestrator } from "../../src/adapters/sfn-orchestrator.ts";
import { StackService } from "../../src/api/service.ts";
import { buildAwsStore } from "./deps.ts";
import { requireEnv } from "./env.ts";

/** The StackService in AWS: the table, and executions started on the deployed state machines. */
export function buildAwsService(env: NodeJS.ProcessEnv = process.env): StackService {
  const sfn = new SFNClient({});
  return new StackService({
    store: buildAwsStore(env),
    orchestrator: createSfnOrchestrator(sfn, {
      provision: requireEnv("PROVISION_STATE_MACHINE_ARN", env),
      destroy: requireEnv("DESTROY_STATE_MACHINE_ARN", env),
    }),
    executions: createSfnExecutions(sfn),
    providers: ["sim"],
    now: () => new Date(),
  });
}
