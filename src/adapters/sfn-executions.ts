import { DescribeExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { Executions } from "../ports/orchestration.ts";

/** The Executions port on Step Functions: a lock holder is alive while its execution is RUNNING. */
export function createSfnExecutions(client: SFNClient): Executions {
  return {
    async isRunning(execution) {
      try {
        const out = await client.send(new DescribeExecutionCommand({ executionArn: execution }));
        return out.status === "RUNNING";
      } catch (error) {
        if ((error as { name?: string })?.name === "ExecutionDoesNotExist") return false;
        throw error;
      }
    },
  };
}
