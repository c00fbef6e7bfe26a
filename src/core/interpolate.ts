/**
 * The interpolation language: finding `$vars.X`, `$servers.S.A` and `$koding...` references in
 * text, rendering them, and saying what each one means.
 *
 * The scanner is a single left-to-right pass with no regular expressions, so it runs in linear
 * time on any input (long runs of `$$$$` or `${{{{` included). Anything with a `$` that is not one
 * of our references is shell syntax and is left exactly as written.
 */

import { SERVER_ARTIFACTS, STACK_ARTIFACTS } from "./template.ts";

/** The roots a reference may start with, case-sensitive. */
export const ROOTS = ["vars", "servers", "koding"] as const;
export type Root = (typeof ROOTS)[number];

/** One reference found in a text, such as `$servers.db.IP` or `${vars.port}`. */
export interface Reference {
  readonly root: Root;
  /** The `.name` parts after the root, e.g. `["db", "IP"]`. */
  readonly path: readonly string[];
  /** Exact source text, including `$` and braces. */
  readonly raw: string;
  /** Offset of the `$` in the scanned text. */
  readonly start: number;
  /** Offset just past the reference (exclusive). */
  readonly end: number;
  /** True for the `${root.name}` form. */
  readonly braced: boolean;
}

/**
 * A piece of scanned text. Tokens are in order and cover the text exactly.
 * - `text`: plain text, shell syntax included (adjacent text is merged into one token).
 * - `ref`: a reference.
 * - `escape`: `$$` followed by a reference; renders as `literal` (the reference with one `$`).
 * - `malformed`: text that starts like a braced reference (`${vars.`) but is not one.
 */
export type Token =
  | { kind: "text"; text: string; start: number }
  | { kind: "ref"; ref: Reference }
  | { kind: "escape"; start: number; end: number; literal: string }
  | { kind: "malformed"; start: number; end: number; raw: string; message: string };

/** What a reference means once its root and parts are checked. */
export type RefMeaning =
  | { kind: "var"; name: string }
  /** `$servers.S.A` and `$koding.artifact.S.A`. */
  | { kind: "server"; server: string; artifact: string }
  /** `$koding.artifact.K`, K one of STACK_ARTIFACTS. */
  | { kind: "stack"; name: string }
  /** `$koding.userdata.K`. */
  | { kind: "userdata"; key: string }
  | { kind: "invalid"; message: string };

const DOLLAR = 0x24;
const DOT = 0x2e;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/** What a braced reference of each root should look like, for messages. */
const BRACED_SHAPE: Readonly<Record<Root, string>> = {
  vars: `\`\${vars.NAME}\``,
  servers: `\`\${servers.SERVER.ARTIFACT}\``,
  koding: `\`\${koding.artifact.NAME}\` or \`\${koding.userdata.KEY}\``,
};

function isNameStart(c: number): boolean {
  // A-Z, a-z, _
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

function isNameChar(c: number): boolean {
  // name start, 0-9, -
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

/** The root spelled at `pos` and followed by a `.`, if any. */
function rootAt(text: string, pos: number): Root | undefined {
  for (const root of ROOTS) {
    if (text.startsWith(root, pos) && text.charCodeAt(pos + root.length) === DOT) return root;
  }
  return undefined;
}

/** End of the name starting at `pos` (which must be a name start). */
function nameEnd(text: string, pos: number): number {
  let i = pos + 1;
  while (i < text.length && isNameChar(text.charCodeAt(i))) i++;
  return i;
}

/** A parsed reference, or where a braced one went wrong (`at`), or undefined for shell syntax. */
type Parsed = { ok: true; ref: Reference } | { ok: false; at: number; root: Root } | undefined;

/**
 * Parses a reference starting at the `$` at `start`.
 * Returns undefined when the text there is not a reference at all (shell syntax),
 * a failure when it starts like a braced reference but is not one.
 */
function parseReference(text: string, start: number): Parsed {
  const braced = text.charCodeAt(start + 1) === LBRACE;
  const rootPos = braced ? start + 2 : start + 1;
  const root = rootAt(text, rootPos);
  if (root === undefined) return undefined;
  const path: string[] = [];
  let i = rootPos + root.length; // at the `.`
  if (!braced) {
    // A `.` is part of the reference only when a name follows it.
    while (text.charCodeAt(i) === DOT && isNameStart(text.charCodeAt(i + 1))) {
      const end = nameEnd(text, i + 1);
      path.push(text.slice(i + 1, end));
      i = end;
    }
    if (path.length === 0) return undefined;
    return { ok: true, ref: { root, path, raw: text.slice(start, i), start, end: i, braced } };
  }
  for (;;) {
    // here text[i] is the `.` before a name
    const c = text.charCodeAt(i + 1);
    if (!isNameStart(c)) return { ok: false, at: i + 1, root };
    const end = nameEnd(text, i + 1);
    path.push(text.slice(i + 1, end));
    i = end;
    const next = text.charCodeAt(i);
    if (next === RBRACE) {
      return { ok: true, ref: { root, path, raw: text.slice(start, i + 1), start, end: i + 1, braced } };
    }
    if (next !== DOT) return { ok: false, at: i, root };
  }
}

/**
 * Builds the token for a braced reference starting at `start` that went wrong at `at`.
 * The malformed text runs to the first `}` on the same line (inclusive), or to the end of the line.
 * Only called when the token is emitted, so that scanning stays linear.
 */
function malformed(
  text: string,
  start: number,
  at: number,
  root: Root,
): Extract<Token, { kind: "malformed" }> {
  let end = at;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c === NEWLINE || c === RETURN) break;
    end++;
    if (c === RBRACE) break;
  }
  const raw = text.slice(start, end);
  const expected = `expected ${BRACED_SHAPE[root]} closed by \`}\``;
  const c = text.charCodeAt(at);
  const found =
    at >= text.length || c === NEWLINE || c === RETURN
      ? "no closing `}`"
      : `unexpected \`${text[at]}\` after \`${text.slice(start, at)}\``;
  return {
    kind: "malformed",
    start,
    end,
    raw,
    message: `malformed reference \`${raw}\`: ${found}; ${expected}`,
  };
}

/**
 * Splits a text into plain text, references, `$$` escapes and malformed references.
 * Adjacent text is merged; the tokens cover the text exactly, in order. Linear time.
 */
export function scan(text: string): Token[] {
  const tokens: Token[] = [];
  let textStart = 0;
  const flush = (upTo: number): void => {
    if (upTo > textStart) tokens.push({ kind: "text", text: text.slice(textStart, upTo), start: textStart });
  };
  let i = text.indexOf("$");
  while (i !== -1 && i < text.length) {
    if (text.charCodeAt(i + 1) === DOLLAR) {
      const after = parseReference(text, i + 1);
      if (after?.ok) {
        flush(i);
        tokens.push({ kind: "escape", start: i, end: after.ref.end, literal: after.ref.raw });
        textStart = after.ref.end;
        i = text.indexOf("$", textStart);
      } else {
        // `$$` (the shell's PID) followed by anything else: keep it and go on after it.
        i = text.indexOf("$", i + 2);
      }
      continue;
    }
    const parsed = parseReference(text, i);
    if (parsed === undefined) {
      i = text.indexOf("$", i + 1);
      continue;
    }
    flush(i);
    if (parsed.ok) {
      tokens.push({ kind: "ref", ref: parsed.ref });
      textStart = parsed.ref.end;
    } else {
      const token = malformed(text, i, parsed.at, parsed.root);
      tokens.push(token);
      textStart = token.end;
    }
    i = text.indexOf("$", textStart);
  }
  flush(text.length);
  return tokens;
}

/** The references in a text, in order (escaped `$$` references excluded). */
export function findReferences(text: string): Reference[] {
  const refs: Reference[] = [];
  for (const token of scan(text)) if (token.kind === "ref") refs.push(token.ref);
  return refs;
}

/** The reference's root and parts joined by `.`, e.g. `servers.mysql.IP`. */
export function referenceKey(ref: Reference): string {
  return `${ref.root}.${ref.path.join(".")}`;
}

/**
 * Replaces every reference with what `resolve` returns for it.
 * Escapes render as their literal, malformed references stay as written, and references that
 * `resolve` returns undefined for stay as written and are listed in `unresolved`.
 */
export function render(
  text: string,
  resolve: (ref: Reference) => string | undefined,
): { text: string; unresolved: Reference[] } {
  const unresolved: Reference[] = [];
  let out = "";
  for (const token of scan(text)) {
    switch (token.kind) {
      case "text":
        out += token.text;
        break;
      case "escape":
        out += token.literal;
        break;
      case "malformed":
        out += token.raw;
        break;
      case "ref": {
        const value = resolve(token.ref);
        if (value === undefined) {
          unresolved.push(token.ref);
          out += token.ref.raw;
        } else {
          out += value;
        }
        break;
      }
    }
  }
  return { text: out, unresolved };
}

function oneOf(choices: readonly string[]): string {
  return `one of ${choices.join(", ")}`;
}

/** "; did you mean `X`?" when `name` matches a choice but for case, else "". */
function caseHint(name: string, choices: readonly string[]): string {
  const lower = name.toLowerCase();
  const match = choices.find((c) => c.toLowerCase() === lower);
  return match === undefined ? "" : `; did you mean \`${match}\`?`;
}

function invalid(ref: Reference, problem: string): RefMeaning {
  return { kind: "invalid", message: `\`${ref.raw}\`: ${problem}` };
}

function serverArtifact(ref: Reference, server: string, artifact: string): RefMeaning {
  if ((SERVER_ARTIFACTS as readonly string[]).includes(artifact)) return { kind: "server", server, artifact };
  return invalid(
    ref,
    `unknown server artifact \`${artifact}\`; expected ${oneOf(SERVER_ARTIFACTS)}${caseHint(artifact, SERVER_ARTIFACTS)}`,
  );
}

const SERVER_SHAPE = `expected \`$servers.SERVER.ARTIFACT\` with ARTIFACT ${oneOf(SERVER_ARTIFACTS)}`;
const KODING_ARTIFACT_SHAPE = `expected \`$koding.artifact.NAME\` with NAME ${oneOf(STACK_ARTIFACTS)}, or \`$koding.artifact.SERVER.ARTIFACT\``;
const KODING_SECTIONS = ["artifact", "userdata"] as const;

/**
 * Says what a reference means: a var, a server's artifact, a stack artifact or a user data key.
 * A reference with the wrong shape or an unknown name is `invalid`, with a message naming what
 * was found and what was expected.
 */
export function classify(ref: Reference): RefMeaning {
  const [first = "", second, third] = ref.path;
  const n = ref.path.length;
  switch (ref.root) {
    case "vars":
      if (n === 1) return { kind: "var", name: first };
      return invalid(ref, "a var has no fields; expected `$vars.NAME`");
    case "servers":
      if (n === 2 && second !== undefined) return serverArtifact(ref, first, second);
      if (n === 1) return invalid(ref, `no artifact named; ${SERVER_SHAPE}`);
      return invalid(ref, `a server artifact has no fields; ${SERVER_SHAPE}`);
    case "koding":
      if (first === "artifact") {
        if (n === 2 && second !== undefined) {
          if ((STACK_ARTIFACTS as readonly string[]).includes(second)) return { kind: "stack", name: second };
          return invalid(
            ref,
            `unknown stack artifact \`${second}\`; ${KODING_ARTIFACT_SHAPE}${caseHint(second, STACK_ARTIFACTS)}`,
          );
        }
        if (n === 3 && second !== undefined && third !== undefined) return serverArtifact(ref, second, third);
        if (n === 1) return invalid(ref, `no artifact named; ${KODING_ARTIFACT_SHAPE}`);
        return invalid(ref, `too many parts; ${KODING_ARTIFACT_SHAPE}`);
      }
      if (first === "userdata") {
        if (n === 2 && second !== undefined) return { kind: "userdata", key: second };
        if (n === 1) return invalid(ref, "no key named; expected `$koding.userdata.KEY`");
        return invalid(ref, "a user data value has no fields; expected `$koding.userdata.KEY`");
      }
      return invalid(
        ref,
        `unknown \`koding\` section \`${first}\`; expected \`koding.artifact\` or \`koding.userdata\`${caseHint(first, KODING_SECTIONS)}`,
      );
  }
}
