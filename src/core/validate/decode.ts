import { LineIndex } from "../source.ts";

/**
 * Decoding a template's bytes into text: the first seam of validation. Large, binary and
 * non-UTF-8 input is refused here, with the position of the first bad byte.
 */

/** Largest template accepted, in bytes. A template is a recipe, not data; DynamoDB items cap at 400 KB. */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;

/** Where decoding failed and why. */
export interface DecodeProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Decodes UTF-8, refusing large, binary and non-UTF-8 input with the position of the first bad byte. */
export function decode(source: string | Uint8Array): string | DecodeProblem {
  // UTF-16 length never exceeds UTF-8 length, so only strings near the limit are encoded to measure.
  const size =
    typeof source !== "string"
      ? source.byteLength
      : source.length > MAX_TEMPLATE_BYTES
        ? source.length
        : new TextEncoder().encode(source).byteLength;
  if (size > MAX_TEMPLATE_BYTES) return { line: 1, column: 1, message: tooLarge(size) };
  let text: string;
  if (typeof source === "string") text = source;
  else {
    if ((source[0] === 0xff && source[1] === 0xfe) || (source[0] === 0xfe && source[1] === 0xff)) {
      return {
        line: 1,
        column: 1,
        message: "not UTF-8 text: the file starts with a UTF-16 byte order mark; save the template as UTF-8",
      };
    }
    if (looksUtf16(source)) {
      return {
        line: 1,
        column: 1,
        message:
          "not UTF-8 text: the file looks like UTF-16 (a zero byte beside each letter); save the template as UTF-8",
      };
    }
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(source);
    } catch {
      const at = firstInvalidUtf8(source);
      const before = new TextDecoder().decode(source.subarray(0, at));
      // Binary data often has control bytes before its first invalid UTF-8 byte: report the first.
      if (firstControlCharacter(before) === -1) {
        const pos = new LineIndex(before).position(before.length);
        return {
          ...pos,
          message: `not UTF-8 text: byte 0x${(source[at] ?? 0).toString(16).padStart(2, "0")} cannot start a character; a template is UTF-8 YAML`,
        };
      }
      text = before;
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Control characters other than tab, newline and carriage return mean binary data.
  const bad = firstControlCharacter(text);
  if (bad !== -1) {
    const pos = new LineIndex(text).position(bad);
    return {
      ...pos,
      message: `binary data: control character 0x${text.charCodeAt(bad).toString(16).padStart(2, "0")} found; a template is YAML text`,
    };
  }
  return text;
}

/** The problem of a template of `size` bytes, over the limit. */
export function tooLarge(size: number): string {
  return `template is ${formatBytes(size)}; a template may be at most ${formatBytes(MAX_TEMPLATE_BYTES)}`;
}

/** UTF-16 without a byte order mark: ASCII text with a zero byte before or after each letter. */
function looksUtf16(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const [a, b, c, d] = bytes as unknown as [number, number, number, number];
  return (a !== 0 && b === 0 && c !== 0 && d === 0) || (a === 0 && b !== 0 && c === 0 && d !== 0);
}

function firstControlCharacter(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return i;
  }
  return -1;
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const n =
      b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return i;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}
