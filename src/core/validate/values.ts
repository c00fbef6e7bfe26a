import { type FieldSpec, isInterpolated, parseDuration, type ValueKind } from "../capabilities.ts";
import { scan } from "../interpolate.ts";
import type { YNode, YScalar } from "../yaml-tree.ts";
import type { Scope, ValidationContext } from "./context.ts";
import { describe, oneOf } from "./hints.ts";

/**
 * Checking one value against its kind (src/core/capabilities.ts): hook parameters and provider
 * options alike. Every mismatch is reported where the value stands.
 */

export function scalarOf(node: YNode): string | number | boolean | null | undefined {
  return node.kind === "scalar" ? node.value : undefined;
}

/** Every scalar inside a node. */
export function* scalars(node: YNode): Generator<YScalar> {
  const stack: YNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as YNode;
    if (n.kind === "scalar") yield n;
    else if (n.kind === "seq") for (const item of n.items) stack.push(item);
    else for (const e of n.entries) stack.push(e.value);
  }
}

/** A YNode as plain data, with prototype-free objects. */
export function toPlain(node: YNode): unknown {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "seq") return node.items.map(toPlain);
  const out: Record<string, unknown> = Object.create(null);
  for (const e of node.entries) out[String(e.key.value)] = toPlain(e.value);
  return out;
}

/** What a kind expects, in words: "a whole number from 0 to 10", or the kind's own `describe`. */
export function expectedOf(v: ValueKind): string {
  switch (v.kind) {
    case "string":
      return v.describe ?? (v.pattern ? `text matching ${v.pattern}` : "a string");
    case "integer":
      return v.describe ?? `a whole number from ${v.min} to ${v.max}`;
    case "number":
      return v.describe ?? `a number from ${v.min} to ${v.max}`;
    case "boolean":
      return "true or false";
    case "enum":
      return v.describe ?? oneOf(v.values.map(String));
    case "oneOf":
    case "records":
      return v.describe;
    case "stringList":
      return "a list of strings";
    case "object":
      return "a mapping";
    case "stringMap":
      return "a mapping of names to strings";
    case "duration":
      return "a duration such as 90s, 10m or 1h30m";
  }
}

/** Whether a scalar fits a kind that a scalar can have, without reporting. */
function scalarFits(s: ReturnType<typeof scalarOf>, v: ValueKind): boolean {
  switch (v.kind) {
    case "string":
      return typeof s === "string" && (!v.pattern || v.pattern.test(s));
    case "integer":
      return typeof s === "number" && Number.isInteger(s) && s >= v.min && s <= v.max;
    case "number":
      return typeof s === "number" && s >= v.min && s <= v.max;
    case "boolean":
      return typeof s === "boolean";
    case "enum":
      return v.values.includes(s as string | boolean);
    case "oneOf":
      return v.choices.some((c) => scalarFits(s, c));
    case "duration":
      return (typeof s === "string" || typeof s === "number") && parseDuration(s) !== undefined;
    default:
      return false;
  }
}

/**
 * Checks a parameter or option against its spec; reports and returns false when it does not fit.
 * `where` names the value ("server `web`: options.disk_gb").
 */
export function checkValue(ctx: ValidationContext, node: YNode, spec: FieldSpec, where: string): boolean {
  return checkKind(
    ctx,
    node,
    spec.value,
    (expected) => `${where}: expected ${expected}, found ${describe(node)}`,
    where,
  );
}

function checkKind(
  ctx: ValidationContext,
  node: YNode,
  v: ValueKind,
  mismatch: (expected: string) => string,
  where: string,
): boolean {
  const fail = (expected: string): false => {
    ctx.at(node.start, mismatch(expected));
    return false;
  };
  const s = scalarOf(node);
  switch (v.kind) {
    case "string":
      if (typeof s !== "string") return fail(`a string${typeof s === "number" ? ` (quote it: "${s}")` : ""}`);
      return scalarFits(s, v) || fail(expectedOf(v));
    case "integer":
    case "number":
    case "boolean":
    case "enum":
    case "oneOf":
    case "duration":
      return scalarFits(s, v) || fail(expectedOf(v));
    case "stringList": {
      if (node.kind !== "seq") return fail("a list of strings");
      let ok = true;
      for (const item of node.items) {
        const x = scalarOf(item);
        if (typeof x !== "string" || (v.pattern && !v.pattern.test(x))) {
          ctx.at(item.start, `${where}: expected ${v.describe ?? "a string"}, found ${describe(item)}`);
          ok = false;
        }
      }
      return ok;
    }
    case "stringMap": {
      if (node.kind !== "map") return fail("a mapping of names to strings");
      let ok = checkNoProtoKeys(ctx, node, where);
      for (const e of node.entries) {
        if (typeof scalarOf(e.value) !== "string") {
          ctx.at(
            e.value.start,
            `${where}.${String(e.key.value)}: expected a string, found ${describe(e.value)}`,
          );
          ok = false;
        }
      }
      return ok;
    }
    case "object":
      if (node.kind !== "map") return fail("a mapping");
      return checkNoProtoKeys(ctx, node, where);
    case "records":
      return checkRecords(ctx, node, v, where);
  }
}

/** A list of mappings with known fields: each field checked, a missing required one reported on its rule. */
function checkRecords(
  ctx: ValidationContext,
  node: YNode,
  v: Extract<ValueKind, { kind: "records" }>,
  where: string,
): boolean {
  if (node.kind !== "seq") {
    ctx.at(node.start, `${where}: expected ${v.describe}`);
    return false;
  }
  const names = Object.keys(v.fields);
  let ok = true;
  node.items.forEach((item, i) => {
    const at = `${where}[${i}]`;
    if (item.kind !== "map") {
      ctx.at(item.start, `${at}: expected a mapping with ${names.join(", ")}`);
      ok = false;
      return;
    }
    const found = ctx.fields(item, at, names);
    if (Object.keys(found).length !== item.entries.length) ok = false;
    for (const [name, spec] of Object.entries(v.fields)) {
      const value = found[name];
      const expected = expectedOf(spec.value);
      if (value === undefined) {
        if (spec.required) {
          ctx.at(item.start, `${at}: ${name} must be ${expected}; it is missing`);
          ok = false;
        }
        continue;
      }
      const fits = checkKind(
        ctx,
        value,
        spec.value,
        (e) => `${at}: ${name} must be ${e}, found ${describe(value)}`,
        `${at}.${name}`,
      );
      if (!fits) ok = false;
    }
  });
  return ok;
}

/** Free-form mappings become JavaScript objects, where a `__proto__` key would set the prototype. */
function checkNoProtoKeys(ctx: ValidationContext, node: YNode, where: string): boolean {
  let ok = true;
  const stack: YNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as YNode;
    if (n.kind === "seq") for (const item of n.items) stack.push(item);
    if (n.kind !== "map") continue;
    for (const e of n.entries) {
      if (e.key.value === "__proto__") {
        ctx.at(
          e.key.start,
          `${where}: \`__proto__\` cannot be a key (it would replace the object's prototype); rename it`,
        );
        ok = false;
      }
      stack.push(e.value);
    }
  }
  return ok;
}

/**
 * Queues every interpolated string inside a value for the reference check; in a value that is
 * not interpolated, a reference is a mistake and is reported.
 */
export function collectStrings(
  ctx: ValidationContext,
  node: YNode,
  spec: FieldSpec,
  scope: Scope,
  where: string,
): void {
  if (!isInterpolated(spec.value)) {
    for (const s of scalars(node)) {
      if (
        typeof s.value === "string" &&
        scan(s.value).some((t) => t.kind === "ref" || t.kind === "malformed")
      )
        ctx.at(s.start, `${where}: references are not allowed here; write the value itself`);
    }
    return;
  }
  for (const s of scalars(node)) {
    if (typeof s.value === "string") ctx.pending.push({ node: s, value: s.value, scope, where });
  }
}
