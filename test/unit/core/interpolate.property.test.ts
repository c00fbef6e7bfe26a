import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  findReferences,
  type Reference,
  referenceKey,
  render,
  scan,
  type Token,
} from "../../../src/core/interpolate.ts";

/** Characters that exercise every branch of the scanner. */
const ALPHABET = [
  ...`\${}._-: \n\t`,
  ..."abcxyzABCXYZ",
  ..."0129",
  "vars",
  "servers",
  "koding",
  "IP",
  "$$",
  "${",
];
const tricky = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 60 }).map((parts) => parts.join(""));
const anything = fc.oneof(tricky, fc.string({ unit: "binary", maxLength: 80 }));

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,6}$/);
const reference = fc
  .tuple(
    fc.constantFrom("vars", "servers", "koding"),
    fc.array(name, { minLength: 1, maxLength: 3 }),
    fc.boolean(),
  )
  .map(([root, path, braced]) => (braced ? `\${${root}.${path.join(".")}}` : `$${root}.${path.join(".")}`));
/** Text mixing real references into shell-like noise. */
const withReferences = fc
  .array(fc.oneof(tricky, reference), { maxLength: 12 })
  .map((parts) => parts.join(""));

function pieceOf(text: string, token: Token): { start: number; end: number; raw: string } {
  switch (token.kind) {
    case "text":
      return { start: token.start, end: token.start + token.text.length, raw: token.text };
    case "ref":
      return { start: token.ref.start, end: token.ref.end, raw: token.ref.raw };
    case "escape":
      return { start: token.start, end: token.end, raw: text.slice(token.start, token.end) };
    case "malformed":
      return { start: token.start, end: token.end, raw: token.raw };
  }
}

describe("interpolation properties", () => {
  it("renders text without references, escapes or malformed references to itself", () => {
    fc.assert(
      fc.property(tricky, (text) => {
        fc.pre(scan(text).every((t) => t.kind === "text"));
        expect(render(text, () => "X")).toEqual({ text, unresolved: [] });
      }),
      { numRuns: 2000 },
    );
  });

  it("covers any input exactly, in order, with no two text tokens adjacent", () => {
    fc.assert(
      fc.property(fc.oneof(anything, withReferences), (text) => {
        const tokens = scan(text);
        let at = 0;
        let previous: Token["kind"] | undefined;
        for (const token of tokens) {
          const piece = pieceOf(text, token);
          expect(piece.start).toBe(at);
          expect(piece.end).toBeGreaterThan(piece.start);
          expect(text.slice(piece.start, piece.end)).toBe(piece.raw);
          if (token.kind === "escape") expect(`$${token.literal}`).toBe(piece.raw);
          expect(token.kind === "text" && previous === "text").toBe(false);
          previous = token.kind;
          at = piece.end;
        }
        expect(at).toBe(text.length);
        expect(tokens.map((t) => pieceOf(text, t).raw).join("")).toBe(text);
      }),
      { numRuns: 3000 },
    );
  });

  it("replaces exactly the references found when every one resolves", () => {
    fc.assert(
      fc.property(withReferences, (text) => {
        const refs = findReferences(text);
        const { text: rendered, unresolved } = render(text, (ref) => `<${referenceKey(ref)}>`);
        expect(unresolved).toEqual([]);
        // Rebuild by hand from the token stream: only refs change, escapes drop one `$`.
        let expected = "";
        let seen = 0;
        for (const token of scan(text)) {
          if (token.kind === "ref") {
            expect(token.ref).toEqual(refs[seen]);
            seen++;
            expected += `<${referenceKey(token.ref)}>`;
          } else if (token.kind === "escape") expected += token.literal;
          else expected += pieceOf(text, token).raw;
        }
        expect(seen).toBe(refs.length);
        expect(rendered).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("finds every reference with its exact source text and a well-formed key", () => {
    fc.assert(
      fc.property(withReferences, (text) => {
        for (const ref of findReferences(text)) {
          expect(text.slice(ref.start, ref.end)).toBe(ref.raw);
          const key = referenceKey(ref);
          expect(ref.raw).toBe(ref.braced ? `\${${key}}` : `$${key}`);
          expect(key).toMatch(/^(vars|servers|koding)(\.[A-Za-z_][A-Za-z0-9_-]*)+$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("finds a reference placed between separators, whatever surrounds it", () => {
    fc.assert(
      fc.property(tricky, reference, tricky, (before, ref, after) => {
        // A space on each side, and no `$` just before, isolates the reference.
        fc.pre(!before.endsWith("$"));
        const text = `${before} ${ref} ${after}`;
        const start = before.length + 1;
        const found = findReferences(text).find((r: Reference) => r.start === start);
        // Only a malformed reference opened in the noise before (running to its `}`) can hide it.
        const hidden = scan(text).some((t) => t.kind === "malformed" && t.start < start && t.end > start);
        if (!hidden) expect(found?.raw).toBe(ref);
      }),
      { numRuns: 2000 },
    );
  });
});
