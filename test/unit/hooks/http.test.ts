import { describe, expect, it } from "vitest";
import { MAX_RETRY_AFTER_MS, requestedWaitMs, retryDelayMs } from "../../../src/hooks/http.ts";

const NOW = Date.parse("2025-06-01T12:00:00Z");

describe("requestedWaitMs", () => {
  it("reads Retry-After in seconds", () => {
    expect(requestedWaitMs(new Headers({ "retry-after": "7" }), NOW)).toBe(7000);
    expect(requestedWaitMs(new Headers({ "retry-after": "0" }), NOW)).toBe(0);
  });

  it("reads Retry-After as an HTTP-date, and a date in the past as no wait", () => {
    expect(requestedWaitMs(new Headers({ "retry-after": "Sun, 01 Jun 2025 12:00:30 GMT" }), NOW)).toBe(
      30_000,
    );
    expect(requestedWaitMs(new Headers({ "retry-after": "Sun, 01 Jun 2025 11:00:00 GMT" }), NOW)).toBe(0);
  });

  it("reads a used-up rate limit's reset time from GitHub's and X's headers", () => {
    const reset = String(NOW / 1000 + 12);
    const github = new Headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset });
    const x = new Headers({ "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset });
    expect(requestedWaitMs(github, NOW)).toBe(12_000);
    expect(requestedWaitMs(x, NOW)).toBe(12_000);
  });

  it("ignores a reset time while the limit is not used up, and a Retry-After it cannot read", () => {
    const reset = String(NOW / 1000 + 600);
    expect(
      requestedWaitMs(new Headers({ "x-ratelimit-remaining": "41", "x-ratelimit-reset": reset }), NOW),
    ).toBe(undefined);
    expect(requestedWaitMs(new Headers({ "retry-after": "soon" }), NOW)).toBe(undefined);
    expect(requestedWaitMs(new Headers(), NOW)).toBe(undefined);
  });
});

describe("retryDelayMs", () => {
  it("caps the wait a service asks for at 60 s", () => {
    const reply = { headers: new Headers({ "retry-after": "3600" }) };
    expect(retryDelayMs(reply, 1, () => 0.5, NOW)).toBe(MAX_RETRY_AFTER_MS);
  });

  it("draws an exponential backoff with full jitter when the service does not say", () => {
    expect(retryDelayMs(undefined, 1, () => 0.999, NOW)).toBe(999);
    expect(retryDelayMs(undefined, 2, () => 0.999, NOW)).toBe(1998);
    expect(retryDelayMs(undefined, 3, () => 0.5, NOW)).toBe(2000);
    expect(retryDelayMs(undefined, 9, () => 0.5, NOW)).toBe(5000);
    expect(retryDelayMs({ headers: new Headers() }, 1, () => 0, NOW)).toBe(0);
  });
});
