/**
 * The JSON-schema checker of the API: the subset of JSON Schema that request bodies need, checked
 * here and published as it is in the OpenAPI document, and the guard every JSON body passes first
 * (depth, keys that mean something to JavaScript objects).
 */

/**
 * A JSON Schema subset: what bodies need, validated here and published in the OpenAPI document.
 * An object admits no field besides its `properties` unless `additionalProperties` is a schema
 * (published as `additionalProperties: false`). A schema of only a description admits anything.
 */
export type Schema =
  | {
      readonly type: "string";
      readonly maxLength?: number;
      readonly pattern?: string;
      /** The only values it may have. */
      readonly enum?: readonly string[];
      /** `date-time`: an ISO 8601 time (RFC 3339). */
      readonly format?: "date-time";
      readonly description?: string;
    }
  | {
      readonly type: "integer";
      readonly minimum?: number;
      readonly maximum?: number;
      readonly description?: string;
    }
  | { readonly type: "boolean"; readonly description?: string }
  | { readonly type: "null"; readonly description?: string }
  | {
      readonly type: "array";
      readonly items: Schema;
      readonly maxItems?: number;
      readonly description?: string;
    }
  | {
      readonly type: "object";
      readonly properties?: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      readonly additionalProperties?: false | Schema;
      readonly maxProperties?: number;
      /** What every key must be (JSON Schema `propertyNames`). */
      readonly propertyNames?: { readonly maxLength: number; readonly pattern?: string };
      readonly description?: string;
    }
  | { readonly oneOf: readonly Schema[]; readonly description?: string }
  | { readonly description?: string; readonly type?: undefined; readonly oneOf?: undefined };

/**
 * The TypeScript type of the JSON a schema describes: `Infer<typeof SCHEMA>` for a schema
 * declared `as const satisfies Schema`. An object's `required` properties are required, the others
 * optional; no other key is admitted (as {@link checkSchema} reads an object without
 * `additionalProperties`) unless `additionalProperties` is a schema, which makes a record.
 * The API's views are checked against their schemas with it (src/api/schemas-agree.ts).
 */
export type Infer<S> = S extends { readonly oneOf: infer O extends readonly unknown[] }
  ? Infer<O[number]>
  : S extends { readonly type: "string"; readonly enum: infer E extends readonly string[] }
    ? E[number]
    : S extends { readonly type: "string" }
      ? string
      : S extends { readonly type: "integer" }
        ? number
        : S extends { readonly type: "boolean" }
          ? boolean
          : S extends { readonly type: "null" }
            ? null
            : S extends { readonly type: "array"; readonly items: infer I }
              ? readonly Infer<I>[]
              : S extends { readonly type: "object" }
                ? InferObject<S>
                : unknown;

type PropertiesOf<S> = S extends { readonly properties: infer P } ? P : Record<never, never>;
type RequiredOf<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;
type ExtraOf<S> = S extends { readonly additionalProperties: infer A }
  ? A extends false
    ? unknown
    : { readonly [key: string]: Infer<A> }
  : unknown;
type InferObject<S, P = PropertiesOf<S>, R = RequiredOf<S>> = Flat<
  { readonly [K in keyof P as K extends R ? K : never]: Infer<P[K]> } & {
    readonly [K in keyof P as K extends R ? never : K]?: Infer<P[K]>;
  } & ExtraOf<S>
>;
type Flat<T> = { [K in keyof T]: T[K] };

/** What `format: "date-time"` accepts: RFC 3339 (as `Date#toISOString` writes it, or with an offset). */
export const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Keys refused anywhere in a JSON body: they mean something to JavaScript objects. */
export const FORBIDDEN_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];
/** The deepest nesting a JSON body may have (every body is a shallow object). */
export const MAX_JSON_DEPTH = 32;

/** Checks a value against a schema; returns the first mismatch as "where: what", or undefined. */
export function checkSchema(value: unknown, schema: Schema, where = "body"): string | undefined {
  if ("oneOf" in schema && schema.oneOf) {
    const fits = schema.oneOf.some((s) => checkSchema(value, s, where) === undefined);
    return fits ? undefined : `${where}: expected ${schema.oneOf.map(describeSchema).join(" or ")}`;
  }
  switch (schema.type) {
    case undefined:
      return undefined;
    case "string":
      if (typeof value !== "string") return `${where}: expected a string`;
      if (schema.enum !== undefined && !schema.enum.includes(value))
        return `${where}: \`${value.slice(0, 80)}\` is not one of ${schema.enum.join(", ")}`;
      if (schema.format === "date-time" && !DATE_TIME.test(value))
        return `${where}: \`${value.slice(0, 80)}\` is not an ISO 8601 time (like 2026-01-31T12:00:00.000Z)`;
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        return `${where}: longer than ${schema.maxLength} characters`;
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
        return `${where}: \`${value.slice(0, 80)}\` does not match ${schema.pattern}`;
      return undefined;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) return `${where}: expected a whole number`;
      if (schema.minimum !== undefined && value < schema.minimum)
        return `${where}: must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum)
        return `${where}: must be at most ${schema.maximum}`;
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : `${where}: expected true or false`;
    case "null":
      return value === null ? undefined : `${where}: expected null`;
    case "array": {
      if (!Array.isArray(value)) return `${where}: expected a list`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return `${where}: more than ${schema.maxItems} items`;
      for (let i = 0; i < value.length; i++) {
        const e = checkSchema(value[i], schema.items, `${where}[${i}]`);
        if (e) return e;
      }
      return undefined;
    }
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        return `${where}: expected a JSON object`;
      const entries = Object.entries(value);
      if (schema.maxProperties !== undefined && entries.length > schema.maxProperties)
        return `${where}: more than ${schema.maxProperties} fields`;
      for (const r of schema.required ?? [])
        if (!Object.hasOwn(value, r)) return `${where}: missing field \`${r}\``;
      if (schema.propertyNames) {
        const { maxLength, pattern } = schema.propertyNames;
        for (const [k] of entries) {
          if (k.length > maxLength)
            return `${where}: field name \`${k.slice(0, 40)}...\` is longer than ${maxLength} characters`;
          if (pattern !== undefined && !new RegExp(pattern).test(k))
            return `${where}: field name \`${k.slice(0, 80)}\` does not match ${pattern}`;
        }
      }
      for (const [k, v] of entries) {
        const known =
          schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        const s = known ?? (schema.additionalProperties === false ? undefined : schema.additionalProperties);
        if (!s) {
          const expected = Object.keys(schema.properties ?? {});
          return `${where}: unknown field \`${k}\`${expected.length > 0 ? `; expected ${expected.join(", ")}` : ""}`;
        }
        const e = checkSchema(v, s, `${where}.${k}`);
        if (e) return e;
      }
      return undefined;
    }
  }
}

function describeSchema(s: Schema): string {
  if ("oneOf" in s && s.oneOf) return s.oneOf.map(describeSchema).join(" or ");
  return s.type === "object" ? "an object" : s.type === "array" ? "a list" : (s.type ?? "anything");
}

/**
 * Where a parsed JSON body goes deeper than {@link MAX_JSON_DEPTH} or has a key of
 * {@link FORBIDDEN_KEYS}, as "where: what"; undefined when it does neither. Iterative, so a deep
 * body cannot exhaust the stack.
 */
export function unsafeJson(value: unknown, where = "body"): string | undefined {
  const todo: { value: unknown; where: string; depth: number }[] = [{ value, where, depth: 1 }];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    if (next.value === null || typeof next.value !== "object") continue;
    if (next.depth > MAX_JSON_DEPTH) return `${next.where}: nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (Array.isArray(next.value)) {
      next.value.forEach((v, i) => {
        todo.push({ value: v, where: `${(next as { where: string }).where}[${i}]`, depth: next.depth + 1 });
      });
      continue;
    }
    for (const [k, v] of Object.entries(next.value)) {
      if (FORBIDDEN_KEYS.includes(k)) {
        return `${next.where}: field \`${k}\` is not allowed (${FORBIDDEN_KEYS.join(", ")} are refused anywhere in a body)`;
      }
      todo.push({ value: v, where: `${next.where}.${k.slice(0, 64)}`, depth: next.depth + 1 });
    }
  }
  return undefined;
}
