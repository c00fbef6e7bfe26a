import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DiffOp,
  diffLineArrays,
  diffLines,
  type LineDiff,
  sideBySide,
  splitLines,
  unifiedHunks,
} from "../../../web/src/editor/line-diff.ts";

/** The length of a longest common subsequence, by dynamic programming: the reference a minimal diff meets. */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      row[j] =
        a[i - 1] === b[j - 1]
          ? (prev[j - 1] as number) + 1
          : Math.max(prev[j] as number, row[j - 1] as number);
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** Both texts rebuilt from the ops: the old from equal and deleted lines, the new from equal and inserted. */
function rebuild(diff: LineDiff): { a: string[]; b: string[] } {
  const a: string[] = [];
  const b: string[] = [];
  for (const op of diff.ops) {
    if (op.kind !== "insert") a.push(diff.a[op.a] as string);
    if (op.kind !== "delete") b.push(diff.b[op.b] as string);
    if (op.kind === "equal") expect(diff.a[op.a]).toBe(diff.b[op.b]);
  }
  return { a, b };
}

/** Lines from a small alphabet, so that the two sides share many lines in many ways. */
const lines = (alphabet: number) =>
  fc.array(
    fc.integer({ min: 0, max: alphabet - 1 }).map((n) => `line ${n}`),
    { maxLength: 40 },
  );

describe("diffLines", () => {
  it("finds a shortest edit script: rebuilds both texts and keeps a longest common subsequence", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((k) => fc.tuple(lines(k), lines(k))),
        ([a, b]) => {
          const diff = diffLineArrays(a, b);
          expect(rebuild(diff)).toEqual({ a, b });
          const lcs = lcsLength(a, b);
          expect(diff.removed).toBe(a.length - lcs);
          expect(diff.added).toBe(b.length - lcs);
          expect(diff.ops.filter((o) => o.kind === "equal")).toHaveLength(lcs);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps indices in order and puts each change's removals before its additions", () => {
    fc.assert(
      fc.property(lines(4), lines(4), (a, b) => {
        const { ops } = diffLineArrays(a, b);
        let lastA = -1;
        let lastB = -1;
        let previous: DiffOp | undefined;
        for (const op of ops) {
          if (op.kind !== "insert") expect(op.a).toBe(++lastA);
          if (op.kind !== "delete") expect(op.b).toBe(++lastB);
          if (previous?.kind === "insert") expect(op.kind).not.toBe("delete");
          previous = op;
        }
      }),
    );
  });

  it("reports identical texts as all equal and disjoint ones as all replaced", () => {
    const same = diffLines("a\nb\nc\n", "a\nb\nc\n");
    expect(same.ops.every((o) => o.kind === "equal")).toBe(true);
    expect([same.added, same.removed]).toEqual([0, 0]);
    const disjoint = diffLines("a\nb\n", "x\ny\nz\n");
    expect([disjoint.removed, disjoint.added]).toEqual([2, 3]);
    expect(diffLines("", "").ops).toEqual([]);
    expect(diffLines("", "a\n").ops).toEqual([{ kind: "insert", b: 0 }]);
  });

  it("diffs two 20,000-line templates with a few changes quickly", () => {
    const a = Array.from({ length: 20_000 }, (_, i) => `      echo line ${i}`);
    const b = [...a];
    b.splice(100, 1, "changed");
    b.splice(10_000, 0, "added 1", "added 2");
    b.splice(19_000, 3);
    const started = performance.now();
    const diff = diffLineArrays(a, b);
    // Near-linear when the changes are few: a quadratic diff would take far longer (and far more memory).
    expect(performance.now() - started).toBeLessThan(5000);
    expect([diff.removed, diff.added]).toEqual([4, 3]);
  });

  it("splits at LF and CRLF and ignores the final line end", () => {
    expect(splitLines("a\r\nb\nc\n")).toEqual(["a", "b", "c"]);
    expect(splitLines("a")).toEqual(["a"]);
    expect(splitLines("")).toEqual([]);
    expect(splitLines("\n")).toEqual([""]);
  });
});

describe("unifiedHunks", () => {
  it("shows a change with three lines of context and diff -u's header", () => {
    const a = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"].join("\n");
    const b = ["1", "2", "3", "4", "five", "6", "7", "8", "9", "10"].join("\n");
    const hunks = unifiedHunks(diffLines(a, b));
    expect(hunks).toHaveLength(1);
    expect(hunks[0]?.header).toBe("@@ -2,7 +2,7 @@");
    expect(hunks[0]?.lines.map((l) => `${l.kind[0]}${l.text}`)).toEqual([
      "e2",
      "e3",
      "e4",
      "d5",
      "ifive",
      "e6",
      "e7",
      "e8",
    ]);
    expect(hunks[0]?.lines[3]).toEqual({ kind: "delete", text: "5", oldLine: 5 });
    expect(hunks[0]?.lines[4]).toEqual({ kind: "insert", text: "five", newLine: 5 });
  });

  it("merges changes close together and splits those far apart", () => {
    const a = Array.from({ length: 30 }, (_, i) => `${i}`);
    const near = [...a];
    near[5] = "x";
    near[10] = "y";
    expect(unifiedHunks(diffLineArrays(a, near))).toHaveLength(1);
    const far = [...a];
    far[2] = "x";
    far[25] = "y";
    const hunks = unifiedHunks(diffLineArrays(a, far));
    expect(hunks.map((h) => h.header)).toEqual(["@@ -1,6 +1,6 @@", "@@ -23,7 +23,7 @@"]);
  });

  it("names the line before an empty side, as diff -u does", () => {
    expect(unifiedHunks(diffLines("", "a\nb\n"))[0]?.header).toBe("@@ -0,0 +1,2 @@");
    expect(unifiedHunks(diffLines("a\n", ""))[0]?.header).toBe("@@ -1,1 +0,0 @@");
    expect(unifiedHunks(diffLines("a\nb\nc\nd\ne\n", "a\nb\nc\nd\ne\nf\n"), 1)[0]?.header).toBe(
      "@@ -5,1 +5,2 @@",
    );
    expect(unifiedHunks(diffLines("a\n", "a\n"))).toEqual([]);
  });
});

describe("sideBySide", () => {
  it("faces removed lines with added ones and numbers each side", () => {
    const rows = sideBySide(diffLines("a\nb\nc\nd\n", "a\nB\nC\nX\nd\n"));
    expect(rows.map((r) => [r.kind, r.left?.line, r.left?.text, r.right?.line, r.right?.text])).toEqual([
      ["equal", 1, "a", 1, "a"],
      ["change", 2, "b", 2, "B"],
      ["change", 3, "c", 3, "C"],
      ["insert", undefined, undefined, 4, "X"],
      ["equal", 4, "d", 5, "d"],
    ]);
  });
});
