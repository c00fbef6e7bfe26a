import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  attemptOfToken,
  callbackPath,
  callbackSignature,
  callbackUrl,
  verifyCallbackSignature,
} from "../../../src/adapters/callback-signing.ts";

const secret = Buffer.from("a-callback-secret-of-32-bytes!!!");
const target = { team: "acme", stackId: "st-1", server: "web", attempt: 2 };

describe("readiness callback signatures", () => {
  it("signs team|stackId|server|attempt with HMAC-SHA256 and verifies only that", () => {
    const sig = callbackSignature(secret, target);
    expect(sig).toBe(createHmac("sha256", secret).update("acme|st-1|web|2").digest("hex"));
    expect(verifyCallbackSignature(secret, target, sig)).toBe(true);
    expect(verifyCallbackSignature(secret, { ...target, attempt: 3 }, sig)).toBe(false);
    expect(verifyCallbackSignature(secret, { ...target, server: "db" }, sig)).toBe(false);
    expect(verifyCallbackSignature(Buffer.from("another secret"), target, sig)).toBe(false);
    expect(verifyCallbackSignature(secret, target, sig.toUpperCase())).toBe(false);
    expect(verifyCallbackSignature(secret, target, sig.slice(0, 63))).toBe(false);
    expect(verifyCallbackSignature(secret, target, "")).toBe(false);
  });

  it("builds the URL the instance posts to, with the signature as `sig`", () => {
    expect(callbackPath(target)).toBe("/callbacks/ready/acme/st-1/web/2");
    expect(callbackUrl("https://api.example.test/", secret, target)).toBe(
      `https://api.example.test/callbacks/ready/acme/st-1/web/2?sig=${callbackSignature(secret, target)}`,
    );
  });

  it("reads the attempt from the pipeline's idempotency token", () => {
    expect(attemptOfToken("st-1.web.3")).toBe(3);
    expect(attemptOfToken("st-1.web-2.12")).toBe(12);
    expect(attemptOfToken("odd")).toBe(1);
  });
});
