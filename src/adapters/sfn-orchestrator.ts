import { type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { Orchestrator } from "../api/service.ts";

/**
 * The Orchestrator on Step Functions. The execution name makes a start idempotent: StartExecution
 * with a name already used (and the same input) starts nothing new.
 */
export function createSfnOrchestrator(
  client: SFNClient,
  machines: { readonly provision: string; readonly destroy: string; readonly power?: string },
): Orchestrator {
  return {
    async start(machine, key, name, input) {
      const arn = machines[machine];
      if (!arn) throw new Error(`no ${machine} state machine is configured for this function`);
      try {
        await client.send(
          new StartExecutionCommand({
            stateMachineArn: arn,
            name: name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 80),
            input: JSON.stringify({ ...input, team: key.team, stackId: key.stackId }),
          }),
        );
      } catch (error) {
        if ((error as { name?: string })?.name !== "ExecutionAlreadyExists") throw error;
      }
    },
  };
}
