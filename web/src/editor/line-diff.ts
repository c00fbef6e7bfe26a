/**
 * A line diff between two texts (two versions of a template): Myers' O((N+M)D) algorithm in linear
 * space (the middle snake, split and recurse), so a 1 MB template against another costs memory in
 * proportion to the lines, not to the lines times the edits. Pure: the console and tests use it.
 */

/** One line of the diff: kept in both, only in the old text, or only in the new one. */
export type DiffOp =
  | { readonly kind: "equal"; readonly a: number; readonly b: number }
  | { readonly kind: "delete"; readonly a: number }
  | { readonly kind: "insert"; readonly b: number };

export interface LineDiff {
  /** The old text's lines (without their line ends). */
  readonly a: readonly string[];
  /** The new text's lines. */
  readonly b: readonly string[];
  /** Every line of both, in order: each change's deletions before its insertions. */
  readonly ops: readonly DiffOp[];
  readonly added: number;
  readonly removed: number;
}

/** A text's lines: split at `\n` or `\r\n`; a final line end does not start another line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The line diff of `oldText` and `newText`, with the fewest lines added and removed. */
export function diffLines(oldText: string, newText: string): LineDiff {
  return diffLineArrays(splitLines(oldText), splitLines(newText));
}

/** The diff of two arrays of lines, with the fewest lines added and removed. */
export function diffLineArrays(a: readonly string[], b: readonly string[]): LineDiff {
  // Lines become small integers, so the inner loops compare numbers.
  const ids = new Map<string, number>();
  const idOf = (line: string) => {
    let id = ids.get(line);
    if (id === undefined) {
      id = ids.size;
      ids.set(line, id);
    }
    return id;
  };
  const A = Int32Array.from(a, idOf);
  const B = Int32Array.from(b, idOf);
  const deleted = new Uint8Array(A.length);
  const inserted = new Uint8Array(B.length);
  new Myers(A, B, deleted, inserted).compare(0, A.length, 0, B.length);
  const ops: DiffOp[] = [];
  let i = 0;
  let j = 0;
  let added = 0;
  let removed = 0;
  while (i < A.length || j < B.length) {
    if (i < A.length && deleted[i]) {
      ops.push({ kind: "delete", a: i++ });
      removed++;
    } else if (j < B.length && inserted[j]) {
      ops.push({ kind: "insert", b: j++ });
      added++;
    } else {
      ops.push({ kind: "equal", a: i++, b: j++ });
    }
  }
  return { a, b, ops, added, removed };
}

class Myers {
  readonly #A: Int32Array;
  readonly #B: Int32Array;
  readonly #deleted: Uint8Array;
  readonly #inserted: Uint8Array;

  constructor(A: Int32Array, B: Int32Array, deleted: Uint8Array, inserted: Uint8Array) {
    this.#A = A;
    this.#B = B;
    this.#deleted = deleted;
    this.#inserted = inserted;
  }

  /** Marks the lines of A[aLo, aHi) deleted and of B[bLo, bHi) inserted that a shortest edit script changes. */
  compare(aLo: number, aHi: number, bLo: number, bHi: number): void {
    // An explicit stack: the recursion depth is about log D, but a stack costs nothing and cannot overflow.
    const work: number[] = [aLo, aHi, bLo, bHi];
    const A = this.#A;
    const B = this.#B;
    while (work.length > 0) {
      let bH = work.pop() as number;
      let bL = work.pop() as number;
      let aH = work.pop() as number;
      let aL = work.pop() as number;
      while (aL < aH && bL < bH && A[aL] === B[bL]) {
        aL++;
        bL++;
      }
      while (aL < aH && bL < bH && A[aH - 1] === B[bH - 1]) {
        aH--;
        bH--;
      }
      if (aL === aH) {
        this.#inserted.fill(1, bL, bH);
        continue;
      }
      if (bL === bH) {
        this.#deleted.fill(1, aL, aH);
        continue;
      }
      const split = this.#middle(aL, aH, bL, bH);
      if (split === undefined) {
        this.#deleted.fill(1, aL, aH);
        this.#inserted.fill(1, bL, bH);
        continue;
      }
      const [x, y] = split;
      work.push(x, aH, y, bH, aL, x, bL, y);
    }
  }

  /**
   * A point (x, y) on a shortest edit path through A[aLo, aHi) and B[bLo, bHi), found where the
   * forward and the backward searches meet (Myers 1986, section 4b); strictly inside the box, so
   * both halves are smaller. Undefined when the two have no line in common at all.
   */
  #middle(aLo: number, aHi: number, bLo: number, bHi: number): [number, number] | undefined {
    const A = this.#A;
    const B = this.#B;
    const n = aHi - aLo;
    const m = bHi - bLo;
    const maxD = Math.ceil((n + m) / 2);
    const offset = maxD;
    const size = 2 * maxD + 2;
    const v1 = new Int32Array(size).fill(-1);
    const v2 = new Int32Array(size).fill(-1);
    v1[offset + 1] = 0;
    v2[offset + 1] = 0;
    const delta = n - m;
    // With an odd delta the forward search detects the overlap, with an even one the backward.
    const front = delta % 2 !== 0;
    let k1start = 0;
    let k1end = 0;
    let k2start = 0;
    let k2end = 0;
    for (let d = 0; d < maxD; d++) {
      for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const k1off = offset + k1;
        let x1 =
          k1 === -d || (k1 !== d && (v1[k1off - 1] as number) < (v1[k1off + 1] as number))
            ? (v1[k1off + 1] as number)
            : (v1[k1off - 1] as number) + 1;
        let y1 = x1 - k1;
        while (x1 < n && y1 < m && A[aLo + x1] === B[bLo + y1]) {
          x1++;
          y1++;
        }
        v1[k1off] = x1;
        if (x1 > n) k1end += 2;
        else if (y1 > m) k1start += 2;
        else if (front) {
          const k2off = offset + delta - k1;
          if (k2off >= 0 && k2off < size && v2[k2off] !== -1) {
            const x2 = n - (v2[k2off] as number);
            if (x1 >= x2) return this.#inside(aLo, bLo, n, m, x1, y1);
          }
        }
      }
      for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const k2off = offset + k2;
        let x2 =
          k2 === -d || (k2 !== d && (v2[k2off - 1] as number) < (v2[k2off + 1] as number))
            ? (v2[k2off + 1] as number)
            : (v2[k2off - 1] as number) + 1;
        let y2 = x2 - k2;
        while (x2 < n && y2 < m && A[aHi - 1 - x2] === B[bHi - 1 - y2]) {
          x2++;
          y2++;
        }
        v2[k2off] = x2;
        if (x2 > n) k2end += 2;
        else if (y2 > m) k2start += 2;
        else if (!front) {
          const k1off = offset + delta - k2;
          if (k1off >= 0 && k1off < size && v1[k1off] !== -1) {
            const x1 = v1[k1off] as number;
            const y1 = x1 - (k1off - offset);
            if (x1 >= n - x2) return this.#inside(aLo, bLo, n, m, x1, y1);
          }
        }
      }
    }
    return undefined;
  }

  /** The split point in absolute indices, or undefined if it would not make both halves smaller. */
  #inside(
    aLo: number,
    bLo: number,
    n: number,
    m: number,
    x: number,
    y: number,
  ): [number, number] | undefined {
    if ((x === 0 && y === 0) || (x === n && y === m)) return undefined;
    return [aLo + x, bLo + y];
  }
}

/** One line of a unified diff: its kind, text, and its numbers (1-based) in the old and new text. */
export interface DiffLine {
  readonly kind: "equal" | "delete" | "insert";
  readonly text: string;
  readonly oldLine?: number;
  readonly newLine?: number;
}

/** A run of changes with the lines around them, as `diff -u` shows it. */
export interface Hunk {
  /** `@@ -oldStart,oldCount +newStart,newCount @@` */
  readonly header: string;
  readonly lines: readonly DiffLine[];
}

function lineOf(diff: LineDiff, op: DiffOp): DiffLine {
  switch (op.kind) {
    case "equal":
      return { kind: "equal", text: diff.a[op.a] as string, oldLine: op.a + 1, newLine: op.b + 1 };
    case "delete":
      return { kind: "delete", text: diff.a[op.a] as string, oldLine: op.a + 1 };
    case "insert":
      return { kind: "insert", text: diff.b[op.b] as string, newLine: op.b + 1 };
  }
}

/** The diff's hunks: each change with `context` unchanged lines on either side; nearby hunks merge. */
export function unifiedHunks(diff: LineDiff, context = 3): Hunk[] {
  const ops = diff.ops;
  const hunks: Hunk[] = [];
  // Lines of each text before op i, for the headers.
  let oldBefore = 0;
  let newBefore = 0;
  let counted = 0;
  const advance = (to: number) => {
    for (; counted < to; counted++) {
      const op = ops[counted] as DiffOp;
      if (op.kind !== "insert") oldBefore++;
      if (op.kind !== "delete") newBefore++;
    }
  };
  let i = 0;
  while (i < ops.length) {
    while (i < ops.length && ops[i]?.kind === "equal") i++;
    if (i === ops.length) break;
    const start = Math.max(0, i - context);
    // The hunk goes on while the next change is within 2 * context unchanged lines.
    let end = i;
    let equalRun = 0;
    for (let j = i; j < ops.length; j++) {
      if (ops[j]?.kind === "equal") {
        equalRun++;
        if (equalRun > 2 * context) break;
      } else {
        equalRun = 0;
        end = j;
      }
    }
    const stop = Math.min(ops.length, end + 1 + context);
    advance(start);
    const oldStart = oldBefore;
    const newStart = newBefore;
    advance(stop);
    const oldCount = oldBefore - oldStart;
    const newCount = newBefore - newStart;
    // An empty side names the line before it, as diff -u does.
    const header = `@@ -${oldCount > 0 ? oldStart + 1 : oldStart},${oldCount} +${newCount > 0 ? newStart + 1 : newStart},${newCount} @@`;
    hunks.push({ header, lines: ops.slice(start, stop).map((op) => lineOf(diff, op)) });
    i = stop;
  }
  return hunks;
}

/** One row of a side-by-side view: the old line on the left, the new on the right (either may be absent). */
export interface SideBySideRow {
  readonly kind: "equal" | "change" | "delete" | "insert";
  readonly left?: { readonly line: number; readonly text: string };
  readonly right?: { readonly line: number; readonly text: string };
}

/** The diff as rows of old and new lines side by side: within a change, removed lines face added ones. */
export function sideBySide(diff: LineDiff): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  const ops = diff.ops;
  let i = 0;
  while (i < ops.length) {
    const op = ops[i] as DiffOp;
    if (op.kind === "equal") {
      rows.push({
        kind: "equal",
        left: { line: op.a + 1, text: diff.a[op.a] as string },
        right: { line: op.b + 1, text: diff.b[op.b] as string },
      });
      i++;
      continue;
    }
    const dels: number[] = [];
    const ins: number[] = [];
    while (i < ops.length && ops[i]?.kind === "delete") dels.push((ops[i++] as { a: number }).a);
    while (i < ops.length && ops[i]?.kind === "insert") ins.push((ops[i++] as { b: number }).b);
    for (let k = 0; k < Math.max(dels.length, ins.length); k++) {
      const a = dels[k];
      const b = ins[k];
      rows.push({
        kind: a !== undefined && b !== undefined ? "change" : a !== undefined ? "delete" : "insert",
        ...(a !== undefined ? { left: { line: a + 1, text: diff.a[a] as string } } : {}),
        ...(b !== undefined ? { right: { line: b + 1, text: diff.b[b] as string } } : {}),
      });
    }
  }
  return rows;
}
