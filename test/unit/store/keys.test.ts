import { describe, expect, it } from "vitest";
import { InvalidStoreKeyError } from "../../../src/store/errors.ts";
import {
  eventKey,
  hookKey,
  lastEventSk,
  serverKey,
  stackChildPrefix,
  stackKey,
} from "../../../src/store/keys.ts";

const key = { team: "t", stackId: "s1" };

describe("keys", () => {
  it("lays out every item of a stack under the team partition", () => {
    expect(stackKey(key)).toEqual({ pk: "TEAM#t", sk: "STACK#s1" });
    expect(serverKey(key, "web")).toEqual({ pk: "TEAM#t", sk: "STACK#s1#SERVER#web" });
    expect(hookKey(key, "pre", 3)).toEqual({ pk: "TEAM#t", sk: "STACK#s1#HOOK#pre#0003" });
    expect(eventKey(key, 123)).toEqual({ pk: "TEAM#t", sk: "STACK#s1#EVENT#0000000123" });
  });

  it("keeps a stack's children apart from a stack whose id extends it", () => {
    expect(serverKey({ team: "t", stackId: "s10" }, "web").sk.startsWith(stackChildPrefix(key))).toBe(false);
  });

  it("orders event keys numerically", () => {
    const sks = [9, 10, 100, 1].map((n) => eventKey(key, n).sk).sort();
    expect(sks).toEqual([1, 9, 10, 100].map((n) => eventKey(key, n).sk));
    expect(eventKey(key, 9_999_999_999).sk).toBe(lastEventSk(key));
  });

  it("rejects names with the separator, empty names and out-of-range numbers", () => {
    expect(() => serverKey(key, "a#b")).toThrow(InvalidStoreKeyError);
    expect(() => stackKey({ team: "", stackId: "s" })).toThrow("team `` cannot be stored");
    expect(() => eventKey(key, -1)).toThrow(RangeError);
    expect(() => hookKey(key, "pre", 10_000)).toThrow(RangeError);
  });
});
