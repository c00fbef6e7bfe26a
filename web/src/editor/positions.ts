/**
 * The offset in `text` of a 1-based line and column (as problems give them), clamped to the line
 * and to the text, so a caret can be put there.
 */
export function offsetOf(text: string, line: number, column: number): number {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const end = text.indexOf("\n", start);
    if (end === -1) return text.length;
    start = end + 1;
  }
  const end = text.indexOf("\n", start);
  const lineEnd = end === -1 ? text.length : end;
  return Math.min(start + Math.max(0, column - 1), lineEnd);
}

/** The number of lines of `text` as an editor shows them (an empty text has one). */
export function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** Where each line of `text` starts, for many look-ups of {@link offsetIn} on one text. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** {@link offsetOf} with the text's line starts already found: O(1) a look-up. */
export function offsetIn(text: string, starts: readonly number[], line: number, column: number): number {
  const start = starts[line - 1];
  if (start === undefined) return text.length;
  const next = starts[line];
  const lineEnd = next === undefined ? text.length : next - 1;
  return Math.min(start + Math.max(0, column - 1), lineEnd);
}
