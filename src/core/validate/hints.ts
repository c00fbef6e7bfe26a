import type { YNode } from "../yaml-tree.ts";

/**
 * How validation words what it found and what it expected: a node described in a few words, a list
 * of choices, and "did you mean" hints for near misses.
 */

/** A node in a few words: "a mapping", "a list", "nothing", "`text`", "number 3". */
export function describe(node: YNode): string {
  if (node.kind === "map") return "a mapping";
  if (node.kind === "seq") return "a list";
  const v = node.value;
  if (v === null) return "nothing";
  if (typeof v === "string") return `\`${v.length > 40 ? `${v.slice(0, 40)}...` : v}\``;
  return `${typeof v} ${String(v)}`;
}

/** "x", or "one of x, y, z". */
export function oneOf(values: readonly string[]): string {
  if (values.length === 1) return values[0] as string;
  return `one of ${values.join(", ")}`;
}

/** " (did you mean `x`?)" when a known name is close to the one found. */
export function didYouMean(found: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(found.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) && best !== found
    ? ` (did you mean \`${best}\`?)`
    : "";
}

/** Edit distance, or 99 when the lengths differ by more than 3 (no hint then). */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

/**
 * Lists of names for messages, with a budget of comparisons for their hints: a template of
 * thousands of servers with thousands of wrong names would take minutes to compare them all.
 */
export class NameHints {
  #comparisons: number;

  constructor(budget = 1_000_000) {
    this.#comparisons = budget;
  }

  /** The first 20 names, and the closest one to `found` while the budget lasts. */
  someNames(found: string, names: ReadonlyMap<string, unknown>): string {
    const listed: string[] = [];
    for (const n of names.keys()) {
      if (listed.length === 20) break;
      listed.push(n);
    }
    this.#comparisons -= names.size;
    const hint = this.#comparisons >= 0 ? didYouMean(found, names.keys()) : "";
    return `${listed.join(", ")}${names.size > 20 ? ", ..." : ""}${hint}`;
  }
}
