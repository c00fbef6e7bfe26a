import type { StackRunOutcome } from "../api/rollouts.ts";
import type { StackKey, StackRuns } from "../ports/store.ts";
import type { EngineOutcome } from "./engine.ts";

/**
 * How a provision run of `teamstack serve` ended, as a rollout needs it: read from the stack
 * record once the execution is over (its lock released, its status final), as lambdas/rollout reads
 * it from the `Stack Provisioned` and `Stack Failed` events in AWS. Undefined for a run that left
 * the stack locked or running (stopped with `serve`): no outcome yet, its rerun's end will tell.
 */
export async function localRunOutcome(
  store: Pick<StackRuns, "getStack">,
  key: StackKey,
  outcome: EngineOutcome,
): Promise<StackRunOutcome | undefined> {
  const stack = await store.getStack(key);
  if (!stack || stack.lock) return undefined;
  const status =
    stack.status === "SUCCEEDED" && outcome.status === "SUCCEEDED"
      ? "SUCCEEDED"
      : stack.status === "FAILED" || outcome.status === "FAILED"
        ? "FAILED"
        : undefined;
  if (status === undefined) return undefined;
  const error = stack.error ?? (outcome.status === "FAILED" ? outcome.cause : undefined);
  return {
    team: key.team,
    stackId: key.stackId,
    run: stack.run,
    status,
    ...(stack.template ? { template: stack.template } : {}),
    ...(status === "FAILED" && error ? { error } : {}),
  };
}
