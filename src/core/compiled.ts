import { UnresolvedReferenceError } from "./errors.ts";
import type { HookType, ProviderName } from "./template.ts";

/**
 * The compiled stack: what Prepare makes of a validated template, and what every other task reads
 * from the run's records instead of the YAML. Everything here is plain JSON (it is stored), holds
 * no secret value, and is rendered with what only a task knows: dependencies' artifacts and the
 * member's secrets, read at the last moment.
 *
 * The compiler is in compile.ts; this module is what the tasks need (types and rendering), so that
 * a task's bundle carries neither the compiler nor the template language's scanner.
 */

/**
 * One piece of a compiled text:
 * - a string: literal text (vars, stack artifacts and escapes already rendered);
 * - `server`/`artifact`: a server's artifact, known once that server is ready;
 * - `userdata`: member data: the member's secret of that key, read at the last moment, or else the
 *   non-secret `value` the member gave (a secret wins, as it always has);
 * - `unresolved`: a reference nothing can resolve where it stands (rendering fails, naming it).
 * `raw` is the reference as written, for messages.
 */
export type TextPart =
  | string
  | { readonly server: string; readonly artifact: string; readonly raw: string }
  | { readonly userdata: string; readonly value?: string; readonly raw: string }
  | { readonly unresolved: string };

/** A text with its references compiled; adjacent literal text is one string. */
export type CompiledText = readonly TextPart[];

/**
 * A compiled value (a hook's params): `value` with every string that needed nothing at run time
 * rendered already, and `holes`, the strings that do, by their path in `value` (where the string
 * as written stands until it is rendered).
 */
export interface CompiledValue {
  readonly value: unknown;
  readonly holes: readonly { readonly path: readonly (string | number)[]; readonly text: CompiledText }[];
}

/** Secrets by name only: member secret keys (`$koding.userdata.KEY`) and team secret names. */
export interface SecretNames {
  readonly userdata: readonly string[];
  readonly team: readonly string[];
}

/** A server's compiled spec: what creating it needs, and the hash that says when it changed. */
export interface CompiledServer {
  /** The provider as the template names it, alias resolved (`localhost` is `local`); not `sim` when simulated. */
  readonly provider: ProviderName;
  readonly type: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly userData: CompiledText;
  /** Every server it waits for: referenced ones by first appearance, then `depends_on`. */
  readonly dependsOn: readonly string[];
  /** Position in the template's `servers` list. */
  readonly index: number;
  /** Position in the topological order (dependencies first). */
  readonly order: number;
  /** SHA-256 (hex) over provider, type, options and user_data as compiled; see `specHash`. */
  readonly hash: string;
  /**
   * `on_start`, compiled like user_data: run at every start (after user_data the first time). Not
   * in the hash: changing it replaces nothing, it applies at the next start.
   */
  readonly onStart?: CompiledText;
}

/** A hook's compiled spec. */
export interface CompiledHook {
  readonly type: HookType;
  readonly params: CompiledValue;
  readonly continueOnError: boolean;
  /** The secrets it needs: the team secrets its type (or a webhook's `secret`) names, the member keys its params use. */
  readonly secrets: SecretNames;
  /** `undo: false` in the template: destroying the stack leaves what this hook did in place. */
  readonly undo?: false;
  /** On an undo step (phase `undo`): the hook whose effect it undoes (see src/core/undo.ts). */
  readonly undoes?: { readonly phase: "pre" | "post"; readonly index: number };
}

/** What a run knows at run time, to render compiled text. */
export interface RunValues {
  /** Artifacts of the servers a text may reference (a task passes those it read). */
  readonly servers: Readonly<Record<string, Readonly<Record<string, string>> | undefined>>;
  /** The member's secrets read for this task, by key. */
  readonly secrets: Readonly<Record<string, string>>;
}

/** Artifacts of the stack as a whole (`$koding.artifact.K`): known from the stack's key and member. */
export function stackArtifactValues(stack: {
  readonly team: string;
  readonly stackId: string;
  readonly member: string;
}): Record<string, string> {
  return {
    stackId: stack.stackId,
    memberName: stack.member,
    teamName: stack.team,
    domainName: `${stack.member}.${stack.team}.teamstack.local`,
  };
}

const own = <T>(record: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;

function renderParts(text: CompiledText, values: RunValues, missing: Set<string>): string {
  let out = "";
  for (const part of text) {
    if (typeof part === "string") {
      out += part;
      continue;
    }
    let value: string | undefined;
    if ("server" in part) {
      const artifacts = own(values.servers, part.server);
      value = artifacts ? own(artifacts, part.artifact) : undefined;
    } else if ("userdata" in part) {
      value = own(values.secrets, part.userdata) ?? part.value;
    }
    if (value === undefined) {
      const raw = "unresolved" in part ? part.unresolved : part.raw;
      missing.add(raw);
      out += raw;
    } else {
      out += value;
    }
  }
  return out;
}

/**
 * Renders a compiled text.
 * @throws UnresolvedReferenceError naming every reference the values cannot resolve.
 */
export function renderCompiledText(text: CompiledText, values: RunValues): string {
  const missing = new Set<string>();
  const out = renderParts(text, values, missing);
  if (missing.size > 0) throw new UnresolvedReferenceError([...missing]);
  return out;
}

/**
 * Renders a compiled value, keeping its shape.
 * @throws UnresolvedReferenceError naming every reference the values cannot resolve.
 */
export function renderCompiledValue(compiled: CompiledValue, values: RunValues): unknown {
  const holes = new Map(compiled.holes.map((h) => [JSON.stringify(h.path), h.text]));
  const missing = new Set<string>();
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === "string") {
      const hole = holes.get(JSON.stringify(path));
      return hole ? renderParts(hole, values, missing) : v;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    // fromEntries defines keys, so a `__proto__` key stays data instead of setting the prototype.
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  const out = holes.size === 0 ? compiled.value : walk(compiled.value, []);
  if (missing.size > 0) throw new UnresolvedReferenceError([...missing]);
  return out;
}

/** The servers whose artifacts a compiled text or value uses, in order of first use. */
export function referencedServers(texts: readonly CompiledText[]): string[] {
  const out = new Set<string>();
  for (const text of texts)
    for (const p of text) if (typeof p !== "string" && "server" in p) out.add(p.server);
  return [...out];
}
