import { describe, expect, it } from "vitest";
import { Fields, fromAttr, fromItem, itemSize, stringSet, toAttr } from "../../../src/store/codec.ts";
import { StoreError } from "../../../src/store/errors.ts";

describe("codec", () => {
  it("round-trips strings, numbers, booleans, bytes, lists and maps", () => {
    const value = {
      s: "x",
      empty: "",
      n: 3.5,
      b: false,
      bytes: new Uint8Array([1, 2]),
      l: ["a", 1],
      m: { k: "v" },
    };
    expect(fromAttr(toAttr(value))).toEqual(value);
  });

  it("leaves out undefined map entries", () => {
    expect(toAttr({ a: "x", b: undefined })).toEqual({ M: { a: { S: "x" } } });
  });

  it("rejects values DynamoDB cannot hold", () => {
    expect(() => toAttr(Number.NaN)).toThrow(StoreError);
    expect(() => toAttr(null)).toThrow(/null/);
  });

  it("makes no set of nothing, and a set of distinct values read back sorted", () => {
    expect(stringSet([])).toBeUndefined();
    expect(stringSet(["b", "a", "b"])).toEqual({ SS: ["b", "a"] });
    expect(fromAttr({ SS: ["b", "a"] })).toEqual(["a", "b"]);
  });

  it("names the attribute and the expected type when an item is malformed", () => {
    const f = new Fields(fromItem({ run: { S: "1" } }), "server item");
    expect(() => f.num("run")).toThrow("server item: attribute `run` is a string, expected a number");
    expect(() => f.str("name")).toThrow("server item: attribute `name` is missing, expected a string");
    expect(f.strings("pending")).toEqual([]);
  });

  it("sizes an item as DynamoDB counts it: names, UTF-8 bytes, binary, every number at its maximum of 21 bytes", () => {
    expect(itemSize({ pk: { S: "é" }, b: { B: new Uint8Array(10) } })).toBe(2 + 2 + 1 + 10);
    expect(itemSize({ n: { N: "12345678901234567890123456789" } })).toBe(1 + 21);
    expect(itemSize({ m: { M: { k: { S: "v" } } }, l: { L: [{ S: "ab" }] } })).toBe(
      1 + (3 + 1 + 1 + 1) + 1 + (3 + 1 + 2),
    );
  });
});
