import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from "@aws-sdk/client-sfn";
import type { TaskTokens } from "../ports/orchestration.ts";

/** Errors SFN returns for a token that is settled or gone: a duplicate release, not a failure. */
const SETTLED = new Set(["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"]);

/** SFN's limits on a failure's fields. */
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

/** The TaskTokens port on Step Functions: SendTaskSuccess / SendTaskFailure. */
export function createSfnTaskTokens(client: SFNClient): TaskTokens {
  const ignoreSettled = (error: unknown): void => {
    if (!SETTLED.has((error as { name?: string })?.name ?? "")) throw error;
  };
  return {
    async sendSuccess(token, output) {
      await client
        .send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }))
        .catch(ignoreSettled);
    },
    async sendFailure(token, error, cause) {
      await client
        .send(
          new SendTaskFailureCommand({
            taskToken: token,
            error: error.slice(0, MAX_ERROR),
            cause: cause.slice(0, MAX_CAUSE),
          }),
        )
        .catch(ignoreSettled);
    },
  };
}
