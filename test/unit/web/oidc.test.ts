import { describe, expect, it } from "vitest";
import {
  codeChallenge,
  codeVerifier,
  idTokenClaims,
  isCallback,
  OidcError,
} from "../../../web/src/auth/oidc.ts";

// RFC 7636 appendix B: the example's 32 octets, its code verifier and its S256 challenge.
const RFC_OCTETS = [
  116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191,
  240, 91, 88, 5, 88, 83, 132, 141, 121,
];
const RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

describe("PKCE", () => {
  it("makes RFC 7636 appendix B's verifier from its octets and its S256 challenge from the verifier", async () => {
    const verifier = codeVerifier((bytes) => {
      bytes.set(RFC_OCTETS);
      return bytes;
    });
    expect(verifier).toBe(RFC_VERIFIER);
    expect(await codeChallenge(RFC_VERIFIER)).toBe(RFC_CHALLENGE);
  });

  it("makes a different 43-character verifier each time from crypto.getRandomValues", () => {
    const seen = new Set(Array.from({ length: 50 }, () => codeVerifier()));
    expect(seen.size).toBe(50);
    for (const v of seen) expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe("callbacks and ID tokens", () => {
  it("tells the provider's return (code or error, with state) from other console URLs", () => {
    expect(isCallback("https://console.example/?code=abc&state=xyz#/stacks")).toBe(true);
    expect(isCallback("https://console.example/?error=access_denied&state=xyz")).toBe(true);
    expect(isCallback("https://console.example/#/signin?code=abc")).toBe(false);
    expect(isCallback("https://console.example/?code=abc")).toBe(false);
  });

  it("reads an ID token's claims (UTF-8 included) and refuses what is not a JWT", () => {
    const payload = Buffer.from(JSON.stringify({ sub: "zoë", aud: "console" })).toString("base64url");
    expect(idTokenClaims(`e30.${payload}.sig`)).toEqual({ sub: "zoë", aud: "console" });
    expect(() => idTokenClaims("nope")).toThrow(OidcError);
    expect(() => idTokenClaims("a.!!!.c")).toThrow("cannot be read");
    expect(() => idTokenClaims(`e30.${Buffer.from("[1]").toString("base64url")}.c`)).toThrow(
      "cannot be read",
    );
  });
});
