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
    "policy",
    "credentials",
    "callbacks",
    "ready",
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
    '{"constructor":{"prototype":{"admin":true}}}',
    '{"member":"alice","template":"web","userdata":{"__proto__":"x"}}',
    '{"providers":["sim","__proto__"]}',
    '{"providers":["aws","local","sim","virtualbox"]}',
    '{"providers":[]}',
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

  // Every route that takes a JSON body, as the team's admin (so auth passes and the body is read).
  const jsonRoutes = [
    ["PUT", "/teams/acme/members/alice"],
    ["POST", "/teams/acme/stacks"],
    ["PUT", "/teams/acme/policy"],
    ["PUT", "/teams/acme/credentials/default"],
    ["POST", "/teams/acme/templates/web/default"],
    ["POST", "/events"],
    ["POST", "/callbacks/ready/acme/st-1/web/1?sig=x"],
  ] as const;

  it("refuses a body with __proto__, constructor or prototype at any depth with 400 naming the key", async () => {
    // A JSON value with the key placed at a random depth, written as text: JSON.parse makes it an
    // own property, as a member's request would.
    const withKey = fc
      .tuple(
        fc.constantFrom("__proto__", "constructor", "prototype"),
        fc.array(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.nat(3)), { maxLength: 5 }),
        fc.json({ maxDepth: 2 }),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.json({ maxDepth: 1 }), { maxKeys: 3 }),
      )
      .map(([key, path, leaf, siblings]) => {
        let text = `{${JSON.stringify(key)}:${leaf}}`;
        for (const step of path.reverse()) {
          text =
            typeof step === "number" ? `[${"0,".repeat(step)}${text}]` : `{${JSON.stringify(step)}:${text}}`;
        }
        const rest = Object.entries(siblings)
          .filter(([k]) => !["__proto__", "constructor", "prototype"].includes(k))
          .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
        return { key, body: rest.length > 0 ? `{${rest.join(",")},"x":${text}}` : text };
      });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...jsonRoutes), withKey, async ([method, p], { key, body }) => {
        const res = await api.call(method, p, { token: admin, body });
        expect(res.status, `${method} ${p} ${body}`).toBe(400);
        // The injected key, or one the random parts happened to hold.
        expect((res.body as { message: string }).message).toMatch(
          /`(__proto__|constructor|prototype)` is not allowed/,
        );
        expect(body).toContain(`"${key}"`);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 200) },
    );
    expect(await api.engine.store.getTeamPolicy("acme")).toBeUndefined();
    expect(Object.getPrototypeOf({}).admin).toBeUndefined();
  });

  it("answers HEAD with GET's status and no body, on any path", async () => {
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom("admin", "member", "none"), async (p, who) => {
        const token = who === "admin" ? admin : who === "member" ? member : undefined;
        const get = await api.call("GET", p, token ? { token } : {});
        const head = await api.call("HEAD", p, token ? { token } : {});
        expect(head.status, p).toBe(get.status);
        expect(head.text).toBe("");
        expect(head.status).toBeLessThan(500);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 200) },
    );
  });
});
