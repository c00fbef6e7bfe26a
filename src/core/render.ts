import { UnresolvedReferenceError } from "./errors.ts";
import { classify, findReferences, type Reference, render } from "./interpolate.ts";
import type { Template, VarValue } from "./template.ts";

/**
 * The values references resolve to. Server artifacts are keyed by server name; stack artifacts
 * (`domainName`, `stackId`, ...) sit beside them as strings, as in `--artifacts FILE.json`.
 */
export interface RenderData {
  readonly vars: Readonly<Record<string, VarValue>>;
  /** Absent: server and stack references render as placeholders such as `<mysql.IP>`. */
  readonly artifacts?: Readonly<Record<string, string | Readonly<Record<string, string>>>>;
  /** Absent: userdata references render as placeholders such as `<userdata.github_username>`. */
  readonly userdata?: Readonly<Record<string, string>>;
}

/** Resolves one reference against the data; undefined when the data has no value for it. */
export function resolveReference(ref: Reference, data: RenderData): string | undefined {
  const meaning = classify(ref);
  const own = <T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
    record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
  switch (meaning.kind) {
    case "var": {
      const v = own(data.vars, meaning.name);
      return v === undefined ? undefined : String(v);
    }
    case "server": {
      if (data.artifacts === undefined) return `<${meaning.server}.${meaning.artifact}>`;
      const server = own(data.artifacts, meaning.server);
      return typeof server === "object" ? own(server, meaning.artifact) : undefined;
    }
    case "stack": {
      if (data.artifacts === undefined) return `<${meaning.name}>`;
      const v = own(data.artifacts, meaning.name);
      return typeof v === "string" ? v : undefined;
    }
    case "userdata":
      if (data.userdata === undefined) return `<userdata.${meaning.key}>`;
      return own(data.userdata, meaning.key);
    case "invalid":
      return undefined;
  }
}

/**
 * Renders a text with every reference replaced.
 * @throws UnresolvedReferenceError naming every reference the data cannot resolve.
 */
export function renderText(text: string, data: RenderData): string {
  const out = render(text, (ref) => resolveReference(ref, data));
  if (out.unresolved.length > 0) {
    throw new UnresolvedReferenceError([...new Set(out.unresolved.map((r) => r.raw))]);
  }
  return out.text;
}

/**
 * Renders every string inside a value (a hook's params), keeping its shape.
 * @throws UnresolvedReferenceError naming every reference the data cannot resolve.
 */
export function renderValue(value: unknown, data: RenderData): unknown {
  const missing = new Set<string>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      const out = render(v, (ref) => resolveReference(ref, data));
      for (const r of out.unresolved) missing.add(r.raw);
      return out.text;
    }
    if (Array.isArray(v)) return v.map(walk);
    // fromEntries defines keys, so a `__proto__` key stays data instead of setting the prototype.
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const result = walk(value);
  if (missing.size > 0) throw new UnresolvedReferenceError([...missing]);
  return result;
}

/** Every `$koding.userdata.KEY` the template uses, in order of first use. */
export function userdataKeys(template: Template): string[] {
  const keys = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === "string") {
      for (const ref of findReferences(v)) {
        const m = classify(ref);
        if (m.kind === "userdata") keys.add(m.key);
      }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(visit);
  };
  for (const h of template.preHooks) visit(h.params);
  for (const s of template.servers) visit(s.userData);
  for (const h of template.postHooks) visit(h.params);
  for (const h of template.destroyHooks ?? []) visit(h.params);
  return [...keys];
}
