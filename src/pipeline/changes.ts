import {
  type ChangeSet,
  type ExistingServer,
  hookChanges,
  serverChanges,
  type VersionRef,
} from "../core/change-set.ts";
import type { CompiledStack } from "../core/compile.ts";
import type { HookRecord, ServerRecord, StackRecord } from "../ports/store.ts";

/**
 * The change set between a stack's records and a compiled template: what Prepare applies, what
 * `teamstack plan --stack`, `up` and `GET .../changes` show. Reads records, never the template.
 */

/** Whether something of a server may exist at its provider (it has an id or an attempt's token). */
export function mayExist(rec: ServerRecord): boolean {
  return rec.status !== "DESTROYED" && Boolean(rec.artifacts?.Id || rec.idempotencyToken);
}

/**
 * A server record as the change set sees it: live when ready and not marked for replacement. A
 * ready server recorded before specs were stored is compared as if made from `adopt` (its spec in
 * the template now): it is kept, as a rerun always kept it.
 */
export function existingServer(rec: ServerRecord, adopt?: ServerRecord["spec"]): ExistingServer {
  const live = rec.status === "SUCCEEDED" && !rec.replace && !rec.removed;
  const spec = rec.spec ?? (live ? adopt : undefined);
  return { name: rec.name, live, exists: mayExist(rec), ...(spec ? { spec } : {}) };
}

/** The version a stack is on (or converging to), as a change set names it. */
export function versionOf(stack: Pick<StackRecord, "template" | "templateHash">): VersionRef {
  return {
    ...(stack.template ? { name: stack.template.name, version: stack.template.version } : {}),
    hash: stack.templateHash,
  };
}

/** The change set from what the records hold to `compiled` (the template at `to`). */
export function changeSetOf(
  from: VersionRef,
  to: VersionRef,
  servers: readonly ServerRecord[],
  hooks: readonly HookRecord[],
  compiled: CompiledStack,
): ChangeSet {
  const specs = new Map(compiled.servers.map((s) => [s.name, s]));
  return {
    from,
    to,
    // In the template's order, as people wrote it; removed servers last.
    servers: serverChanges(
      servers.map((r) => existingServer(r, specs.get(r.name))),
      compiled.servers,
    ).sort(
      (a, b) =>
        (specs.get(a.name)?.index ?? Number.MAX_SAFE_INTEGER) -
        (specs.get(b.name)?.index ?? Number.MAX_SAFE_INTEGER),
    ),
    hooks: hookChanges(
      hooks.map((h) => ({
        phase: h.phase,
        index: h.index,
        succeeded: h.status === "SUCCEEDED",
        ...(h.spec ? { spec: h.spec } : {}),
      })),
      [...compiled.preHooks, ...compiled.postHooks],
    ),
  };
}

/** One line per server that changes, and the hooks that run: for events and the CLI. */
export function summary(changes: ChangeSet): string {
  const count = (action: string) => changes.servers.filter((c) => c.action === action).length;
  const parts = (["create", "replace", "delete", "keep"] as const)
    .map((a) => [a, count(a)] as const)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${n} to ${a}`);
  return parts.length === 0 ? "no servers" : parts.join(", ");
}
