import {
  type CompiledHook,
  type CompiledServer,
  type CompiledText,
  type CompiledValue,
  type SecretNames,
  stackArtifactValues,
  type TextPart,
} from "./compiled.ts";
import { classify, scan } from "./interpolate.ts";
import type { TemplatePlan } from "./plan.ts";
import { sha256Hex } from "./sha256.ts";
import type { HookSpec, Settings, Template, TemplateHookPhase } from "./template.ts";

/**
 * The compiler: a validated template and its plan, with the stack's non-secret context, become
 * the compiled stack that Prepare stores on the run's records (see compiled.ts). Pure.
 *
 * What is known at Prepare and is not secret is rendered now: vars, stack artifacts (in
 * post_hooks, the only place they may stand) and `$$` escapes. What is not stays a reference: a
 * server's artifact as a (server, artifact) pair, member data as its key (the member's secret of
 * that key wins at run time, else the non-secret value given now). No secret value is ever read
 * here, so none can end up in the output.
 */

/** The stack's non-secret context: its key, its member and the member's non-secret data. */
export interface CompileContext {
  readonly team: string;
  readonly stackId: string;
  readonly member: string;
  readonly userdata: Readonly<Record<string, string>>;
}

export interface CompileOptions {
  /** The team secrets a hook uses (by its type, and a webhook's `secret`). */
  readonly hookSecrets: (hook: HookSpec) => readonly string[];
}

/** A compiled server with its name. */
export interface NamedServer extends CompiledServer {
  readonly name: string;
}

/** A compiled hook with its place. */
export interface PlacedHook extends CompiledHook {
  readonly phase: TemplateHookPhase;
  readonly index: number;
}

export interface CompiledStack {
  /** Every server, in topological order (`order` is the position here). */
  readonly servers: readonly NamedServer[];
  readonly preHooks: readonly PlacedHook[];
  readonly postHooks: readonly PlacedHook[];
  /** Run before the servers are destroyed; they see what post_hooks see. */
  readonly destroyHooks: readonly PlacedHook[];
  readonly settings: Settings;
  /** How many levels the plan has: the longest chain of waits, counted in servers. */
  readonly levels: number;
  /** Every secret the stack uses, by name: what its tasks read at the last moment and mask. */
  readonly secrets: SecretNames;
}

type Scope = "server" | "pre" | "post";

/**
 * Compiles a validated template (see `loadTemplate`) and its plan (`planTemplate`).
 * @throws Error when the plan does not belong to the template (a server missing from its order).
 */
export function compileStack(
  template: Template,
  plan: Pick<TemplatePlan, "order" | "levels" | "servers">,
  context: CompileContext,
  options: CompileOptions,
): CompiledStack {
  const stackValues = stackArtifactValues(context);
  // Member keys in order of first use, the stack's and the one being compiled's.
  const userdataKeys = new Set<string>();
  let used = new Set<string>();
  const compileText = (text: string, scope: Scope): CompiledText => {
    const parts: TextPart[] = [];
    const literal = (s: string) => {
      const last = parts.length - 1;
      if (typeof parts[last] === "string") parts[last] += s;
      else if (s !== "") parts.push(s);
    };
    for (const token of scan(text)) {
      if (token.kind === "text") literal(token.text);
      else if (token.kind === "escape") literal(token.literal);
      else if (token.kind === "malformed") literal(token.raw);
      else {
        const ref = token.ref;
        const meaning = classify(ref);
        if (meaning.kind === "var" && Object.hasOwn(template.vars, meaning.name)) {
          literal(String(template.vars[meaning.name]));
        } else if (meaning.kind === "stack" && scope === "post") {
          literal(stackValues[meaning.name] as string);
        } else if (meaning.kind === "server" && scope !== "pre") {
          parts.push({ server: meaning.server, artifact: meaning.artifact, raw: ref.raw });
        } else if (meaning.kind === "userdata") {
          userdataKeys.add(meaning.key);
          used.add(meaning.key);
          const value = Object.hasOwn(context.userdata, meaning.key)
            ? context.userdata[meaning.key]
            : undefined;
          parts.push({ userdata: meaning.key, ...(value !== undefined ? { value } : {}), raw: ref.raw });
        } else {
          // What the template's validation refuses: kept so that rendering fails naming it.
          parts.push({ unresolved: ref.raw });
        }
      }
    }
    return parts;
  };
  const compileValue = (value: unknown, scope: Scope): CompiledValue => {
    const holes: { path: (string | number)[]; text: CompiledText }[] = [];
    const walk = (v: unknown, path: (string | number)[]): unknown => {
      if (typeof v === "string") {
        const text = compileText(v, scope);
        if (text.every((p) => typeof p === "string")) return text.join("");
        holes.push({ path, text });
        return v;
      }
      if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
      if (v !== null && typeof v === "object")
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
      return v;
    };
    return { value: walk(value, []), holes };
  };

  const teamSecrets = new Set<string>();
  const hook = (h: HookSpec): PlacedHook => {
    used = new Set();
    const params = compileValue(h.params, h.phase === "pre" ? "pre" : "post");
    const team = [...new Set(options.hookSecrets(h))];
    for (const n of team) teamSecrets.add(n);
    return {
      phase: h.phase,
      index: h.index,
      type: h.type,
      params,
      continueOnError: h.continueOnError,
      secrets: { userdata: [...used], team },
      ...(h.undo === false ? { undo: false as const } : {}),
    };
  };
  // Compiled in document order, so the stack's secret keys come in order of first use.
  const preHooks = template.preHooks.map(hook);
  const position = new Map(plan.order.map((name, i) => [name, i]));
  const planned = new Map(plan.servers.map((s) => [s.name, s.dependsOn]));
  const servers: NamedServer[] = template.servers.map((s, index) => {
    const order = position.get(s.name);
    const dependsOn = planned.get(s.name);
    if (order === undefined || dependsOn === undefined)
      throw new Error(`the plan has no server \`${s.name}\`: it was made for another template`);
    const userData = compileText(s.userData, "server");
    const onStart = s.onStart !== undefined ? compileText(s.onStart, "server") : undefined;
    return {
      name: s.name,
      provider: s.provider,
      type: s.type,
      options: s.options,
      userData,
      dependsOn: [...dependsOn],
      index,
      order,
      hash: specHash({ provider: s.provider, type: s.type, options: s.options, userData }),
      ...(onStart !== undefined ? { onStart } : {}),
    };
  });
  const postHooks = template.postHooks.map(hook);
  const destroyHooks = (template.destroyHooks ?? []).map(hook);
  servers.sort((a, b) => a.order - b.order);
  return {
    servers,
    preHooks,
    postHooks,
    destroyHooks,
    settings: template.settings,
    levels: plan.levels.length,
    secrets: { userdata: [...userdataKeys], team: [...teamSecrets] },
  };
}

/** Every hook of a compiled stack, as its records are written: pre, post, then destroy hooks. */
export function everyHook(stack: CompiledStack): PlacedHook[] {
  return [...stack.preHooks, ...stack.postHooks, ...stack.destroyHooks];
}

/**
 * The spec hash: SHA-256 (hex) over the canonical JSON (sorted keys) of a server's provider,
 * type, options and compiled user_data, references as (server, artifact) pairs and member keys
 * with their non-secret values. It changes when any of them changes (a var or the member's data
 * that user_data uses included) and not otherwise: not for the way a reference is spelled
 * (`$servers.db.IP` or `${servers.db.IP}`), not for key order, and not for a secret's value.
 */
export function specHash(spec: Pick<CompiledServer, "provider" | "type" | "options" | "userData">): string {
  const userData = spec.userData.map((p) => {
    if (typeof p === "string") return p;
    if ("server" in p) return ["server", p.server, p.artifact];
    if ("userdata" in p) return ["userdata", p.userdata, p.value ?? null];
    return ["unresolved", p.unresolved];
  });
  return sha256Hex(canonicalJson([spec.provider, spec.type, spec.options, userData]));
}

/** JSON with object keys sorted, so equal values give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
