/** Line and column (both 1-based) of a place in a text. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** Turns offsets in a text into line and column, in O(log lines) each. */
export class LineIndex {
  readonly #starts: number[];
  constructor(text: string) {
    const starts = [0];
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
    this.#starts = starts;
  }

  /** The position of the character at `offset` (clamped to the text). */
  position(offset: number): Position {
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: Math.max(0, offset - (starts[lo] as number)) + 1 };
  }
}
