import type { Command } from "./command.ts";

/**
 * "Did you mean": the known word nearest to a mistyped one, by edit distance (insertions,
 * deletions, substitutions, and swaps of two neighbouring characters, each costing 1).
 */

/** The optimal-string-alignment distance between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => (d[i] as number[])[j] as number;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The candidate a user most likely meant by `word`, or undefined when none is close: the only
 * candidate that `word` begins (`--simulate-p`), else the nearest within 1 edit for words of up
 * to 4 characters, 2 up to 8, 3 beyond.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word) && c !== word);
  if (prefixed.length === 1) return prefixed[0];
  const limit = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const distance = editDistance(word.toLowerCase(), c.toLowerCase());
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= limit && bestDistance < word.length ? best : undefined;
}

/** ` did you mean \`X\`?` for a mistyped word, or nothing. */
export function suggestion(word: string, candidates: readonly string[]): string {
  const best = didYouMean(word, candidates);
  return best === undefined ? "" : `; did you mean \`${best}\`?`;
}

/** parseArgs' message for a mistaken option, with "did you mean" (or the options there are) for an unknown one. */
export function unknownOptionMessage(command: Pick<Command, "name" | "options">, error: unknown): string {
  const message = (error as Error).message;
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if ((error as { code?: string }).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION" || unknown === undefined)
    return message;
  const flags = Object.entries({ ...command.options, help: { short: "h" } }).flatMap(([long, o]) => [
    `--${long}`,
    ...(o.short ? [`-${o.short}`] : []),
  ]);
  return `unknown option \`${unknown}\`${suggestion(unknown, flags) || `; ${command.name} takes ${flags.filter((f) => f.startsWith("--")).join(", ")}`}`;
}
