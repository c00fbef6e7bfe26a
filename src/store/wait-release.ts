import type { ServerRecord, WaitRelease } from "../ports/store.ts";

export type { WaitRelease, WaitUpdate } from "../ports/store.ts";

/**
 * What a server's record calls for: the result to send to its wait token, or undefined while it
 * must keep waiting (no token yet, or dependencies still pending). A failed dependency wins over
 * readiness.
 */
export function releaseFor(record: ServerRecord): WaitRelease | undefined {
  const token = record.waitToken;
  if (token === undefined) return undefined;
  if (record.failedDep !== undefined) return { token, outcome: "failure", failedDep: record.failedDep };
  if (record.pending.length === 0) return { token, outcome: "success" };
  return undefined;
}
