import { canonicalJson, type NamedServer, type PlacedHook } from "./compile.ts";
import type { CompiledHook, CompiledServer, CompiledText } from "./compiled.ts";

/**
 * The change set between a stack's servers as they are and a newly compiled template: for every
 * server `keep`, `create`, `replace` or `delete`, with the reasons. The rule: a server is replaced
 * when its spec changes (provider, type, options, user_data), or when an artifact its user_data
 * references will change because the server it comes from is replaced; otherwise it is kept,
 * untouched. A server that only waits for another (`depends_on`, no artifact used) is kept when
 * that one is replaced. A server that is not ready (destroyed, failed, never made) is created; one
 * whose artifacts a ready server uses makes that server replaced too (after a crash mid-update,
 * the rerun still replaces what the first run meant to). Pure: the pipeline and the API compute
 * it from records.
 */

export type ServerAction = "keep" | "create" | "replace" | "delete";

export interface ServerChange {
  readonly name: string;
  readonly action: ServerAction;
  /** Why, in the user's words; empty for `keep`. */
  readonly reasons: readonly string[];
}

/** A server of the stack as its record has it. */
export interface ExistingServer {
  readonly name: string;
  /** Its compiled spec; absent on a record written before specs were stored. */
  readonly spec?: CompiledServer;
  /** Whether it is ready: false once destroyed, never created, or not ready yet (the new template creates it). */
  readonly live: boolean;
  /**
   * Whether something of it may exist at its provider (a failed or half-made server): such a
   * server, removed from the template, is deleted. Default: `live`.
   */
  readonly exists?: boolean;
}

/** The (server, artifacts) a compiled user_data uses, in order of first use. */
function usedArtifacts(text: CompiledText): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of text) {
    if (typeof part === "string" || !("server" in part)) continue;
    const list = out.get(part.server) ?? [];
    if (!list.includes(part.artifact)) list.push(part.artifact);
    out.set(part.server, list);
  }
  return out;
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** The reasons a server's own spec changed; empty when it did not. */
function specReasons(before: CompiledServer, after: CompiledServer): string[] {
  if (before.hash === after.hash) return [];
  const reasons: string[] = [];
  if (before.provider !== after.provider) {
    reasons.push(`provider changed from ${before.provider} to ${after.provider}`);
  }
  if (before.type !== after.type) reasons.push(`type changed from ${before.type} to ${after.type}`);
  const keys = [...new Set([...Object.keys(before.options), ...Object.keys(after.options)])]
    .filter((k) => !sameJson(before.options[k], after.options[k]))
    .sort();
  if (keys.length > 0) reasons.push(`options changed: ${keys.join(", ")}`);
  if (!sameJson(before.userData, after.userData)) reasons.push("user_data changed");
  // The hash covers only these; a hash that differs with all of them equal was made otherwise.
  if (reasons.length === 0) reasons.push("spec changed");
  return reasons;
}

/**
 * The change set: the new template's servers in its topological order (so a server's references
 * are decided before it), then the servers it no longer has, in the order given.
 */
export function serverChanges(
  existing: readonly ExistingServer[],
  next: readonly NamedServer[],
): ServerChange[] {
  const before = new Map(existing.map((s) => [s.name, s]));
  const decided = new Map<string, ServerAction>();
  const changes: ServerChange[] = [];
  for (const server of [...next].sort((a, b) => a.order - b.order)) {
    const old = before.get(server.name);
    let change: ServerChange;
    if (!old) {
      change = { name: server.name, action: "create", reasons: ["new in the template"] };
    } else if (!old.live) {
      change = {
        name: server.name,
        action: "create",
        reasons: ["does not exist (destroyed or never created)"],
      };
    } else if (!old.spec) {
      change = { name: server.name, action: "replace", reasons: ["no spec recorded to compare with"] };
    } else {
      const reasons = specReasons(old.spec, server);
      for (const [from, artifacts] of usedArtifacts(server.userData)) {
        const fate = decided.get(from);
        if (fate === "replace" || fate === "create") {
          reasons.push(
            `uses ${artifacts.map((a) => `${from}.${a}`).join(", ")}, and ${from} is ${fate === "replace" ? "replaced" : "created again"}`,
          );
        }
      }
      change = { name: server.name, action: reasons.length > 0 ? "replace" : "keep", reasons };
    }
    decided.set(server.name, change.action);
    changes.push(change);
  }
  const kept = new Set(next.map((s) => s.name));
  for (const old of existing) {
    if (kept.has(old.name) || !(old.exists ?? old.live)) continue;
    changes.push({ name: old.name, action: "delete", reasons: ["removed from the template"] });
  }
  return changes;
}

/** A hook of the stack as its record has it. */
export interface ExistingHook {
  readonly phase: string;
  readonly index: number;
  readonly succeeded: boolean;
  readonly spec?: CompiledHook;
}

export interface HookChange {
  readonly phase: PlacedHook["phase"];
  readonly index: number;
  readonly type: string;
  /** `run`: it runs in the update; `skip`: it succeeded before, as it is now. */
  readonly action: "run" | "skip";
}

/**
 * Which hooks an update (or a rerun) runs: a hook that has not succeeded, or whose spec at its
 * place changed (type or params), runs; one that succeeded as it is now is not run again.
 */
export function hookChanges(existing: readonly ExistingHook[], next: readonly PlacedHook[]): HookChange[] {
  const before = new Map(existing.map((h) => [`${h.phase}#${h.index}`, h]));
  return next.map(({ phase, index, ...spec }) => {
    const old = before.get(`${phase}#${index}`);
    const same = old?.succeeded === true && old.spec !== undefined && sameJson(old.spec, spec);
    return { phase, index, type: spec.type, action: same ? "skip" : "run" };
  });
}

/** A template version, as a change set names it. */
export interface VersionRef {
  readonly name?: string;
  readonly version?: number;
  readonly hash: string;
}

/** What an update would do: `GET .../changes`, `teamstack plan --stack`, and what `up` shows. */
export interface ChangeSet {
  readonly from: VersionRef;
  readonly to: VersionRef;
  readonly servers: readonly ServerChange[];
  readonly hooks: readonly HookChange[];
}

/** Whether a change set changes anything that exists (what `up` asks before doing). */
export function destructive(changes: ChangeSet): readonly ServerChange[] {
  return changes.servers.filter((c) => c.action === "replace" || c.action === "delete");
}
