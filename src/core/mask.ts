/** What a masked secret shows as. */
export const MASK = "***";

/** Encoded forms shorter than this are not masked: they would hide ordinary text at random. */
const MIN_FORM_LENGTH = 4;

const utf8 = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * The base64 text that a value's bytes always produce when they sit at byte offset 0, 1 or 2 of
 * a 3-byte group inside a longer encoded text: the characters that depend on the bytes around it
 * are cut off. A script that base64-encodes `x${secret}y` prints one of these three.
 */
function base64Forms(bytes: Uint8Array): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    const text = toBase64(padded).replace(/=+$/, "");
    // With 1 or 2 foreign bytes in front, the first 2 or 3 characters carry their bits.
    const start = offset === 0 ? 0 : offset + 1;
    // A last, partial group's final character carries bits of whatever byte follows.
    const end = padded.length % 3 === 0 ? text.length : text.length - 1;
    forms.push(text.slice(start, end));
  }
  return forms;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Every text that reveals a secret value and must be masked: the value itself; its base64
 * (standard and URL-safe, at each of the three alignments); its hex (lower and upper case); its
 * URL encoding (`encodeURIComponent`, and form encoding with `+` for spaces); and, for a value of
 * several lines, each line, as a script printing it line by line shows it.
 */
export function secretForms(values: Iterable<string>): string[] {
  const forms = new Set<string>();
  const add = (form: string, min = MIN_FORM_LENGTH): void => {
    if (form.length >= min) forms.add(form);
  };
  for (const value of values) {
    if (value === "") continue;
    // A secret is masked however short it is; only its derived forms have a minimum length.
    add(value, 1);
    const parts = value.includes("\n") ? [value, ...value.split(/\r?\n/)] : [value];
    for (const part of parts) {
      if (part.trim() === "") continue;
      add(part);
      const bytes = utf8.encode(part);
      for (const b64 of base64Forms(bytes)) {
        add(b64);
        add(b64.replaceAll("+", "-").replaceAll("/", "_"));
      }
      const h = hex(bytes);
      add(h);
      add(h.toUpperCase());
      add(encodeURIComponent(part));
      add(new URLSearchParams({ v: part }).toString().slice(2));
    }
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * A function that replaces every form of the given secret values (see `secretForms`) in a text
 * with `***`. Longer forms go first, so a secret that contains another is masked whole. The
 * value itself is masked however short it is: a short secret is still a secret.
 */
export function createMasker(values: Iterable<string>): (text: string) => string {
  return maskerOf(secretForms(values));
}

function maskerOf(forms: readonly string[]): (text: string) => string {
  if (forms.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of forms) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  };
}

/** Masks a text that arrives in pieces (a process's output), whatever the pieces' boundaries. */
export interface StreamMasker {
  /** Takes the next piece; returns the masked text that is safe to write now. */
  push(text: string): string;
  /** Returns the rest, masked, at the end of the stream. */
  end(): string;
}

/**
 * A masker for a stream: a form of a secret split across two pieces is still masked. It holds
 * back only the end of the text that could be the start of a form (at most the longest form's
 * length minus one character) until the next piece (or the end) shows whether a secret starts
 * there; text that cannot begin one goes on at once, so a reader following a log sees each line
 * as soon as it is written.
 */
export function createStreamMasker(values: Iterable<string>): StreamMasker {
  const forms = secretForms(values);
  const mask = maskerOf(forms);
  const hold = Math.max(0, (forms[0]?.length ?? 0) - 1);
  let carry = "";
  /** The earliest position from which the rest of `text` is a proper start of some form. */
  const cutOf = (text: string): number => {
    for (let at = Math.max(0, text.length - hold); at < text.length; at++) {
      const rest = text.slice(at);
      if (forms.some((f) => f.length > rest.length && f.startsWith(rest))) return at;
    }
    return text.length;
  };
  return {
    push(text) {
      const masked = mask(carry + text);
      // Any occurrence that starts before the cut ends inside `masked` and is already masked.
      const cut = cutOf(masked);
      carry = masked.slice(cut);
      return masked.slice(0, cut);
    },
    end() {
      const rest = mask(carry);
      carry = "";
      return rest;
    },
  };
}

/** Masks every string inside a value, keeping its shape. */
export function maskValue<T>(value: T, mask: (text: string) => string): T {
  if (typeof value === "string") return mask(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskValue(v, mask)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(v, mask);
    return out as T;
  }
  return value;
}
