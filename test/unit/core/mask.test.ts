import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMasker, createStreamMasker, MASK, secretForms } from "../../../src/core/mask.ts";

/** Whether any run of text between masks, read as base64 (or hex) at any alignment, still holds the secret. */
function revealed(masked: string, secret: string): boolean {
  const needle = Buffer.from(secret);
  for (const piece of masked.split(MASK)) {
    if (piece.includes(secret)) return true;
    for (let offset = 0; offset < 4; offset++) {
      const part = piece.slice(offset);
      const b64 = part.slice(0, part.length - (part.length % 4));
      for (const form of [b64, b64.replaceAll("-", "+").replaceAll("_", "/")]) {
        if (/^[A-Za-z0-9+/]*$/.test(form) && Buffer.from(form, "base64").includes(needle)) return true;
      }
    }
    for (let offset = 0; offset < 2; offset++) {
      const part = piece.slice(offset);
      const h = part.slice(0, part.length - (part.length % 2));
      if (/^[0-9a-fA-F]*$/.test(h) && Buffer.from(h, "hex").includes(needle)) return true;
    }
    try {
      if (decodeURIComponent(piece.replaceAll("+", " ")).includes(secret)) return true;
    } catch {
      // not URL-encoded text
    }
  }
  return false;
}

const secret = "s3cr3t-Canary/value+42";

describe("secret masking", () => {
  it("masks the value and every encoded form a script can print", () => {
    const mask = createMasker([secret]);
    const bytes = Buffer.from(secret);
    const printed = [
      secret,
      bytes.toString("base64"),
      Buffer.concat([Buffer.from("x"), bytes]).toString("base64"),
      Buffer.concat([Buffer.from("xy"), bytes, Buffer.from("z")]).toString("base64"),
      Buffer.concat([Buffer.from("ab"), bytes]).toString("base64url"),
      bytes.toString("hex"),
      bytes.toString("hex").toUpperCase(),
      encodeURIComponent(secret),
      new URLSearchParams({ k: `${secret} x` }).toString(),
    ];
    for (const text of printed) {
      const out = mask(`before ${text} after`);
      expect(out, text).toContain(MASK);
      expect(revealed(out, secret), `${text} -> ${out}`).toBe(false);
    }
  });

  it("masks each line of a multi-line secret printed line by line", () => {
    const key = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n-----END KEY-----";
    const mask = createMasker([key]);
    const out = mask("line: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n");
    expect(out).toBe(`line: ${MASK}\n`);
    expect(mask(key)).toBe(MASK);
  });

  it("never reveals a random secret inside random text in any encoding", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 40 }).filter((s) => s.trim().length >= 6 && !s.includes("*")),
        fc.uint8Array({ maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.constantFrom("base64", "base64url", "hex", "raw", "uri"),
        (value, before, after, encoding) => {
          const bytes = Buffer.concat([before, Buffer.from(value), after]);
          const text =
            encoding === "raw"
              ? `${Buffer.from(before).toString("latin1")}${value}`
              : encoding === "uri"
                ? encodeURIComponent(value)
                : bytes.toString(encoding);
          expect(revealed(createMasker([value])(text), value)).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("masks a secret split across the pieces of a stream, wherever the cut falls", () => {
    const text = `one ${secret} two ${Buffer.from(secret).toString("base64")} three ${secret}`;
    for (let cut = 0; cut <= text.length; cut++) {
      const stream = createStreamMasker([secret]);
      const out = stream.push(text.slice(0, cut)) + stream.push(text.slice(cut)) + stream.end();
      expect(out).toBe(createMasker([secret])(text));
    }
  });

  it("streams text without a secret through unchanged", () => {
    const stream = createStreamMasker([]);
    expect(stream.push("abc") + stream.end()).toBe("abc");
  });

  it("masks a one-character secret but leaves its short encodings alone", () => {
    expect(secretForms(["k"])).toEqual(["k"]);
    expect(createMasker(["k"])("ok")).toBe(`o${MASK}`);
  });
});
