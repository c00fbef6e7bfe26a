import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "./api-server.ts";

// Random methods, paths, headers and bodies against the real server: never a 500, never a hang,
// always a JSON error body that says what was wrong.
let api: TestApi;
let admin: string;
let member: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  member = await api.token("acme", "alice");
});

afterAll(async () => {
  await api?.close();
});

const segment = fc.oneof(
  fc.constantFrom(
    "teams",
    "acme",
    "other",
    "templates",
    "stacks",
    "members",
    "events",
    "default",
    "rerun",
    "openapi.json",
    "web",
    "st-1",
  ),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom("%", "%zz", "..", ".", "%00", "__proto__", "constructor", "a".repeat(300)),
);
const path = fc.array(segment, { minLength: 0, maxLength: 6 }).map((parts) => `/${parts.join("/")}`);
const jsonish = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    "{",
    "[]",
    "null",
    '{"__proto__":{"admin":true}}',
    '{"member":"alice","template":"web"}',
    "servers: []",
    "\u0000\u0001",
  ),
  fc
    .record({
      template: fc.oneof(fc.string(), fc.constant("web")),
      member: fc.oneof(fc.string(), fc.constant("alice")),
      userdata: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
      simulate: fc.anything(),
    })
    .map((o) => JSON.stringify(o)),
);

describe("the HTTP API under random input", () => {
  it("answers every request with a JSON body and a status other than 500", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"),
        path,
        fc.option(jsonish, { nil: undefined }),
        fc.constantFrom("admin", "member", "none", "garbage", "other"),
        fc.dictionary(
          fc.constantFrom("idempotency-key", "content-type", "x-anything"),
          fc.string({ maxLength: 300 }),
          { maxKeys: 2 },
        ),
        async (method, p, body, who, extra) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(extra)) if (/^[\x20-\x7e]*$/.test(v)) headers[k] = v;
          if (who === "garbage") headers.authorization = "Bearer not-a-token";
          if (who === "other") headers.authorization = "Basic dXNlcjpwYXNz";
          const token = who === "admin" ? admin : who === "member" ? member : undefined;
          const res = await api.call(method, p, {
            ...(token ? { token } : {}),
            ...(body !== undefined && method !== "GET" && method !== "HEAD" ? { body } : {}),
            headers,
          });
          expect(res.status, `${method} ${p}`).not.toBe(500);
          expect(res.status).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(500);
          if (method !== "HEAD" && res.status >= 400) {
            expect(res.body).toMatchObject({ error: expect.any(String), message: expect.any(String) });
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 400) },
    );
    await api.server.idle();
    expect(Object.getPrototypeOf({}).admin).toBeUndefined();
  });
});
