import type { StackKey, StackRecord, StackRuns } from "../ports/store.ts";

/**
 * Keeping the list clean: a destroyed stack's records (the stack, its servers, hooks, artifacts and
 * events) are kept 30 days, then deleted. In AWS DynamoDB's TTL deletes them (the table's TTL
 * attribute is `purgeAt`, epoch seconds, set on every item of the stack when it becomes
 * DESTROYED); locally the store has no TTL, so `purgeExpired` deletes them (on engine open and in
 * `teamstack serve`). `teamstack forget ID` deletes them at once.
 */

/** How long a destroyed stack's records are kept. */
export const DESTROYED_RETENTION_SECONDS = 30 * 24 * 60 * 60;

/** The `purgeAt` of a stack destroyed at `now`. */
export function purgeAtFor(now: Date): number {
  return Math.floor(now.getTime() / 1000) + DESTROYED_RETENTION_SECONDS;
}

/** Marks a stack that just became DESTROYED for deletion 30 days from `now`. */
export async function markDestroyed(store: Pick<StackRuns, "expireStack">, key: StackKey, now: Date) {
  await store.expireStack(key, purgeAtFor(now));
}

/** Whether a stack's records are due for deletion at `now`: DESTROYED, and its `purgeAt` passed. */
export function purgeDue(stack: Pick<StackRecord, "status" | "purgeAt">, now: Date): boolean {
  return stack.status === "DESTROYED" && stack.purgeAt !== undefined && stack.purgeAt * 1000 <= now.getTime();
}

/**
 * Deletes every destroyed stack whose `purgeAt` has passed (what DynamoDB's TTL does in AWS), and
 * returns their keys. A stack that is no longer DESTROYED (destroyed again since) is left alone.
 */
export async function purgeExpired(
  store: Pick<StackRuns, "listStacks" | "deleteStack">,
  now: Date,
): Promise<StackKey[]> {
  const due = (await store.listStacks()).filter((s) => purgeDue(s, now));
  for (const s of due) await store.deleteStack(s);
  return due.map((s) => ({ team: s.team, stackId: s.stackId }));
}
