import type { NamedServer } from "./compile.ts";
import type { CompiledServer, CompiledText } from "./compiled.ts";

/**
 * The change set between a stack's servers as they are and a newly compiled template: for every
 * server `keep`, `create`, `replace` or `delete`, with the reasons. The rule: a server is replaced
 * when its spec changes (provider, type, options, user_data), or when an artifact its user_data
 * references will change because the server it comes from is replaced; otherwise it is kept,
 * untouched. A server that only waits for another (`depends_on`, no artifact used) is kept when
 * that one is replaced. Pure: the pipeline and the API compute it from records.
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
  /** False once it is destroyed (or was never created): the new template creates it again. */
  readonly live: boolean;
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
  return canonical(a) === canonical(b);
}

/** JSON with object keys sorted, so that key order is not a change. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
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
        if (decided.get(from) === "replace") {
          reasons.push(`uses ${artifacts.map((a) => `${from}.${a}`).join(", ")}, and ${from} is replaced`);
        }
      }
      change = { name: server.name, action: reasons.length > 0 ? "replace" : "keep", reasons };
    }
    decided.set(server.name, change.action);
    changes.push(change);
  }
  const kept = new Set(next.map((s) => s.name));
  for (const old of existing) {
    if (kept.has(old.name) || !old.live) continue;
    changes.push({ name: old.name, action: "delete", reasons: ["removed from the template"] });
  }
  return changes;
}
