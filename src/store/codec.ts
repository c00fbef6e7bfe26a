import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { StoreError } from "./errors.ts";

/** A DynamoDB item in the wire format. */
export type Item = Record<string, AttributeValue>;

/**
 * Converts a plain value to an attribute value: strings, finite numbers, booleans, byte arrays,
 * arrays (lists) and plain objects (maps). `undefined` entries of objects are left out.
 * String sets are never produced here (an empty set cannot be stored): see {@link stringSet}.
 */
export function toAttr(value: unknown): AttributeValue {
  if (typeof value === "string") return { S: value };
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new StoreError(`cannot store the number ${value}`);
    return { N: String(value) };
  }
  if (typeof value === "boolean") return { BOOL: value };
  if (value instanceof Uint8Array) return { B: value };
  if (Array.isArray(value)) return { L: value.map(toAttr) };
  if (typeof value === "object" && value !== null) {
    const map: Item = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) map[k] = toAttr(v);
    return { M: map };
  }
  throw new StoreError(`cannot store a value of type ${value === null ? "null" : typeof value}`);
}

/** A String Set of the distinct values, or undefined for none (DynamoDB has no empty sets). */
export function stringSet(values: readonly string[]): AttributeValue | undefined {
  return values.length === 0 ? undefined : { SS: [...new Set(values)] };
}

/** DynamoDB's item size limit. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * The size DynamoDB counts for an item (attribute names plus values, with its per-value overheads
 * rounded up), to refuse an item over the 400 KB limit before any other write depends on it.
 */
export function itemSize(item: Item): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8Length(name) + valueSize(value);
  return size;
}

function valueSize(av: AttributeValue): number {
  if (av.S !== undefined) return utf8Length(av.S);
  if (av.N !== undefined) return 21;
  if (av.B !== undefined) return av.B.byteLength;
  if (av.BOOL !== undefined || av.NULL !== undefined) return 1;
  if (av.SS !== undefined) return av.SS.reduce((n, s) => n + utf8Length(s), 0);
  if (av.NS !== undefined) return av.NS.length * 21;
  if (av.L !== undefined) return av.L.reduce((n, v) => n + 1 + valueSize(v), 3);
  if (av.M !== undefined)
    return 3 + Object.entries(av.M).reduce((n, [k, v]) => n + 1 + utf8Length(k) + valueSize(v), 0);
  return 0;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Converts an attribute value back to a plain value (a String Set becomes a sorted array). */
export function fromAttr(av: AttributeValue): unknown {
  if (av.S !== undefined) return av.S;
  if (av.N !== undefined) return Number(av.N);
  if (av.BOOL !== undefined) return av.BOOL;
  if (av.B !== undefined) return av.B;
  if (av.SS !== undefined) return [...av.SS].sort();
  if (av.NS !== undefined) return av.NS.map(Number);
  if (av.L !== undefined) return av.L.map(fromAttr);
  if (av.M !== undefined) return fromItem(av.M);
  if (av.NULL !== undefined) return undefined;
  throw new StoreError(`cannot read the attribute value ${JSON.stringify(Object.keys(av))}`);
}

export function fromItem(item: Item): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) out[k] = fromAttr(v);
  return out;
}

/** Typed readers of a decoded item: they fail loudly on an item that is not what it should be. */
export class Fields {
  readonly #item: Record<string, unknown>;
  readonly #what: string;
  constructor(item: Record<string, unknown>, what: string) {
    this.#item = item;
    this.#what = what;
  }
  str(name: string): string {
    const v = this.optStr(name);
    if (v === undefined) throw this.#bad(name, "a string");
    return v;
  }
  optStr(name: string): string | undefined {
    const v = this.#item[name];
    if (v === undefined || typeof v === "string") return v;
    throw this.#bad(name, "a string");
  }
  num(name: string): number {
    const v = this.optNum(name);
    if (v === undefined) throw this.#bad(name, "a number");
    return v;
  }
  optNum(name: string): number | undefined {
    const v = this.#item[name];
    if (v === undefined || typeof v === "number") return v;
    throw this.#bad(name, "a number");
  }
  bool(name: string): boolean {
    const v = this.optBool(name);
    if (v === undefined) throw this.#bad(name, "a boolean");
    return v;
  }
  optBool(name: string): boolean | undefined {
    const v = this.#item[name];
    if (v === undefined || typeof v === "boolean") return v;
    throw this.#bad(name, "a boolean");
  }
  bytes(name: string): Uint8Array {
    const v = this.optBytes(name);
    if (v === undefined) throw this.#bad(name, "binary");
    return v;
  }
  optBytes(name: string): Uint8Array | undefined {
    const v = this.#item[name];
    if (v === undefined || v instanceof Uint8Array) return v;
    throw this.#bad(name, "binary");
  }
  /** A list or a set of strings; absent is empty. */
  strings(name: string): string[] {
    const v = this.#item[name];
    if (v === undefined) return [];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    throw this.#bad(name, "a list of strings");
  }
  optStrMap(name: string): Record<string, string> | undefined {
    const v = this.#item[name];
    if (v === undefined) return undefined;
    if (typeof v === "object" && v !== null && Object.values(v).every((x) => typeof x === "string")) {
      return v as Record<string, string>;
    }
    throw this.#bad(name, "a map of strings");
  }
  /** A map of plain values, as stored (a server's compiled options). */
  optMap(name: string): Record<string, unknown> | undefined {
    const v = this.#item[name];
    if (v === undefined) return undefined;
    if (typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      return v as Record<string, unknown>;
    }
    throw this.#bad(name, "a map");
  }
  optFields(name: string): Fields | undefined {
    const v = this.#item[name];
    if (v === undefined) return undefined;
    if (typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      return new Fields(v as Record<string, unknown>, `${this.#what}.${name}`);
    }
    throw this.#bad(name, "a map");
  }
  #bad(name: string, expected: string): StoreError {
    return new StoreError(
      `${this.#what}: attribute \`${name}\` is ${describe(this.#item[name])}, expected ${expected}`,
    );
  }
}

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (Array.isArray(v)) return "a list";
  return `a ${typeof v}`;
}

/** `{ [name]: value }` when value is defined, else `{}`: builds records under exactOptionalPropertyTypes. */
export function opt<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}
