import { describe, expect, it } from "vitest";
import { InvalidStoreKeyError } from "../../../src/store/errors.ts";
import {
  eventKey,
  hookKey,
  lastEventSk,
  MAX_TEMPLATE_VERSION,
  memberKey,
  outboundEventKey,
  serverKey,
  stackChildPrefix,
  stackKey,
  templateCatalogKey,
  templateKey,
  templateVersionKey,
  templateVersionPrefix,
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

  it("lays out templates, members and outbound events", () => {
    expect(templateCatalogKey("t")).toEqual({ pk: "TEAM#t", sk: "TEMPLATES" });
    expect(templateKey("t", "base")).toEqual({ pk: "TEAM#t", sk: "TEMPLATE#base" });
    expect(templateVersionKey("t", "base", 3)).toEqual({ pk: "TEAM#t", sk: "TEMPLATE#base#V#0000000003" });
    expect(memberKey("t", "ada")).toEqual({ pk: "TEAM#t", sk: "MEMBER#ada" });
    expect(outboundEventKey("acme", "e-1")).toEqual({ pk: "TEAM#acme", sk: "EVENT#e-1" });
  });

  it("orders template versions numerically and keeps them apart from a template whose name extends it", () => {
    const sks = [10, 9, 100, 1].map((n) => templateVersionKey("t", "base", n).sk).sort();
    expect(sks).toEqual([1, 9, 10, 100].map((n) => templateVersionKey("t", "base", n).sk));
    expect(templateVersionKey("t", "base2", 1).sk.startsWith(templateVersionPrefix("t", "base"))).toBe(false);
    expect(templateVersionKey("t", "base", MAX_TEMPLATE_VERSION).sk).toBe("TEMPLATE#base#V#9999999999");
    expect(() => templateVersionKey("t", "base", MAX_TEMPLATE_VERSION + 1)).toThrow(RangeError);
  });

  it("rejects template, member and event names with the separator or empty", () => {
    expect(() => templateKey("t", "a#b")).toThrow("template name `a#b` cannot be stored");
    expect(() => templateVersionKey("t", "", 1)).toThrow(InvalidStoreKeyError);
    expect(() => memberKey("t", "a#b")).toThrow("member `a#b` cannot be stored");
    expect(() => outboundEventKey("acme", "")).toThrow("event id `` cannot be stored");
    expect(() => templateCatalogKey("a#b")).toThrow(InvalidStoreKeyError);
  });
});
