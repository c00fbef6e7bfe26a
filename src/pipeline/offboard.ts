import type { StackKey, StackRecord } from "../ports/store.ts";
import { iso, type PipelineDeps } from "./context.ts";
import { EVENT_SOURCE } from "./finish.ts";
import { markDestroyed } from "./purge.ts";

/**
 * What FinalizeDestroy does once every server is gone and every undo step done: the outbound
 * `Stack Destroyed` event, and the stack's records marked to expire in 30 days (purge.ts).
 */
export async function destroyed(
  deps: Pick<PipelineDeps, "store" | "events" | "now">,
  key: StackKey,
  stack: StackRecord,
  run: number,
): Promise<void> {
  await deps.events.publish({
    id: `${key.stackId}:${run}:destroyed`,
    source: EVENT_SOURCE,
    detailType: "Stack Destroyed",
    time: iso(deps),
    detail: {
      team: key.team,
      stackId: key.stackId,
      member: stack.member,
      run,
      ...(stack.template ? { template: stack.template } : {}),
    },
  });
  await markDestroyed(deps.store, key, deps.now());
}
