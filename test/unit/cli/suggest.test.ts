import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { didYouMean, editDistance, suggestion } from "../../../src/cli/suggest.ts";

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and swaps as one each", () => {
    expect(editDistance("json", "json")).toBe(0);
    expect(editDistance("jsn", "json")).toBe(1);
    expect(editDistance("jsoon", "json")).toBe(1);
    expect(editDistance("jsan", "json")).toBe(1);
    expect(editDistance("jnso", "json")).toBe(2);
    expect(editDistance("sjon", "json")).toBe(1);
    expect(editDistance("", "up")).toBe(2);
  });

  it("is symmetric and bounded by the longer word", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(d).toBe(editDistance(b, a));
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(d === 0).toBe(a === b);
      }),
    );
  });
});

describe("didYouMean", () => {
  const flags = ["--json", "--state-dir", "--simulate", "--simulate-provider", "--name", "--yes"];

  it("suggests the nearest word within reach", () => {
    expect(didYouMean("--jsn", flags)).toBe("--json");
    expect(didYouMean("--state_dir", flags)).toBe("--state-dir");
    expect(didYouMean("--simulat", flags)).toBe("--simulate");
    expect(didYouMean("uo", ["up", "down", "status"])).toBe("up");
    expect(didYouMean("staus", ["up", "down", "status"])).toBe("status");
  });

  it("suggests the one word a prefix starts", () => {
    expect(didYouMean("--simulate-p", flags)).toBe("--simulate-provider");
    expect(didYouMean("temp", ["templates", "token"])).toBe("templates");
  });

  it("suggests nothing far away", () => {
    expect(didYouMean("--zzz", flags)).toBeUndefined();
    expect(didYouMean("ls", ["up", "list"])).toBeUndefined();
    expect(suggestion("bogus", ["up", "down"])).toBe("");
  });

  it("writes the hint", () => {
    expect(suggestion("--jsn", flags)).toBe("; did you mean `--json`?");
  });
});
