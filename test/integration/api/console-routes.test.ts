import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_ROUTES } from "../../../src/api/console-routes.ts";
import { checkSchema } from "../../../src/api/json-schema.ts";
import { mintOneTimeCode, ONE_TIME_TTL_MS, redeemOneTimeCode } from "../../../src/local/one-time.ts";
import { startTestApi, type TestApi } from "./api-server.ts";

// The console's routes through the real router on a real `teamstack serve` (127.0.0.1).
let api: TestApi;
let admin: string;
let alice: string;
let eve: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
  eve = await api.token("other", "eve", true);
});

afterAll(async () => {
  await api?.close();
});

/** Checks a 2xx body against the route's published response schema. */
function conforms(method: string, path: string, body: unknown): void {
  const route = CONSOLE_ROUTES.find((r) => r.method === method && r.path === path);
  if (!route) throw new Error(`no console route ${method} ${path}`);
  expect(checkSchema(body, route.response), `${method} ${path}`).toBeUndefined();
}

describe("whoami", () => {
  it("names the caller's team, member and role, and refuses a request without a token", async () => {
    const res = await api.call("GET", "/whoami", { token: alice });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ team: "acme", member: "alice", admin: false });
    conforms("GET", "/whoami", res.body);
    expect((await api.call("GET", "/whoami", { token: admin })).body).toEqual({
      team: "acme",
      member: "root",
      admin: true,
    });
    expect((await api.call("GET", "/whoami")).status).toBe(401);
  });
});

describe("members, credentials and events", () => {
  it("lists the team's members with their data to an admin; 403 to a member and another team", async () => {
    expect(
      (await api.call("PUT", "/teams/acme/members/alice", { token: alice, body: { github: "alice-gh" } }))
        .status,
    ).toBe(200);
    await api.call("PUT", "/teams/acme/members/bob", { token: admin, body: {} });
    await api.call("PUT", "/teams/other/members/mallory", { token: eve, body: { x: "y" } });
    const res = await api.call("GET", "/teams/acme/members", { token: admin });
    expect(res.status).toBe(200);
    conforms("GET", "/teams/{team}/members", res.body);
    expect(res.body).toEqual({
      members: [
        { member: "alice", data: { github: "alice-gh" }, updatedAt: expect.any(String), left: false },
        { member: "bob", data: {}, updatedAt: expect.any(String), left: false },
      ],
    });
    const asMember = await api.call("GET", "/teams/acme/members", { token: alice });
    expect(asMember.status).toBe(403);
    expect((asMember.body as { message: string }).message).toContain("admin");
    expect((await api.call("GET", "/teams/acme/members", { token: eve })).status).toBe(403);
  });

  it("lists credentials by name and field names, never a value", async () => {
    const externalId = "ext-id-0123456789-SECRET";
    const put = await api.call("PUT", "/teams/acme/credentials/prod", {
      token: admin,
      body: {
        roleArn: "arn:aws:iam::123456789012:role/teamstack-prod",
        externalId,
        region: "eu-west-1",
      },
    });
    expect(put.status).toBe(200);
    const res = await api.call("GET", "/teams/acme/credentials", { token: admin });
    expect(res.status).toBe(200);
    conforms("GET", "/teams/{team}/credentials", res.body);
    expect(res.body).toEqual({
      credentials: [
        {
          name: "prod",
          provider: "aws",
          fields: ["roleArn", "externalId", "region"],
          secretFields: ["externalId"],
          updatedAt: expect.any(String),
        },
      ],
    });
    expect(res.text).not.toContain(externalId);
    expect(res.text).not.toContain("123456789012");
    expect((await api.call("GET", "/teams/acme/credentials", { token: alice })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/credentials", { token: eve })).status).toBe(403);
  });

  it("lists the team's outbound events newest first, only its own, bounded by ?limit", async () => {
    const at = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
    for (let i = 0; i < 3; i++) {
      await api.engine.store.putOutboundEvent({
        id: `acme-${i}`,
        source: "teamstack",
        detailType: "Stack Provisioned",
        time: at(i),
        detail: { team: "acme", stackId: `st-${i}` },
      });
    }
    await api.engine.store.putOutboundEvent({
      id: "other-0",
      source: "teamstack",
      detailType: "Stack Failed",
      time: at(5),
      detail: { team: "other", stackId: "st-x" },
    });
    const res = await api.call("GET", "/teams/acme/events?limit=2", { token: admin });
    expect(res.status).toBe(200);
    conforms("GET", "/teams/{team}/events", res.body);
    expect(res.body).toEqual({
      events: [
        { id: "acme-2", type: "Stack Provisioned", at: at(2), detail: { team: "acme", stackId: "st-2" } },
        { id: "acme-1", type: "Stack Provisioned", at: at(1), detail: { team: "acme", stackId: "st-1" } },
      ],
    });
    const all = (await api.call("GET", "/teams/acme/events", { token: admin })).body as { events: unknown[] };
    expect(all.events).toHaveLength(3);
    expect((await api.call("GET", "/teams/acme/events?limit=0", { token: admin })).status).toBe(400);
    expect((await api.call("GET", "/teams/acme/events?limit=501", { token: admin })).status).toBe(400);
    expect((await api.call("GET", "/teams/acme/events", { token: alice })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/events", { token: eve })).status).toBe(403);
  });
});

describe("console config", () => {
  it("tells the console that serve streams and signs in with tokens and one-time links, without a token", async () => {
    const res = await api.call("GET", "/console/config.json");
    expect(res.status).toBe(200);
    conforms("GET", "/console/config.json", res.body);
    expect(res.body).toEqual({
      apiBase: "",
      stream: true,
      signIn: { token: true, oneTime: true, oidc: null },
    });
  });
});

describe("ETag", () => {
  it("tags every JSON GET with a strong ETag and answers a matching If-None-Match with 304 and no body", async () => {
    const first = await api.call("GET", "/teams/acme/members", { token: admin });
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    const again = await api.call("GET", "/teams/acme/members", {
      token: admin,
      headers: { "if-none-match": etag as string },
    });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    expect(again.headers.get("etag")).toBe(etag);
    // A weak form of the tag, and a list holding it, match too; another tag does not.
    for (const header of [`W/${etag}`, `"nope", ${etag}`, "*"]) {
      const res = await api.call("GET", "/teams/acme/members", {
        token: admin,
        headers: { "if-none-match": header },
      });
      expect(res.status, header).toBe(304);
    }
    const other = await api.call("GET", "/teams/acme/members", {
      token: admin,
      headers: { "if-none-match": '"nope"' },
    });
    expect(other.status).toBe(200);
    // A change makes a new tag, and the old one no longer matches.
    await api.call("PUT", "/teams/acme/members/carol", { token: admin, body: {} });
    const changed = await api.call("GET", "/teams/acme/members", {
      token: admin,
      headers: { "if-none-match": etag as string },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    // Other GET routes carry one too; an error answer and a POST do not.
    expect((await api.call("GET", "/teams/acme/stacks", { token: alice })).headers.get("etag")).toMatch(/^"/);
    expect((await api.call("GET", "/openapi.json")).headers.get("etag")).toMatch(/^"/);
    expect((await api.call("GET", "/teams/acme/members", { token: alice })).headers.get("etag")).toBeNull();
    expect(
      (await api.call("PUT", "/teams/acme/members/dave", { token: admin, body: {} })).headers.get("etag"),
    ).toBeNull();
  });

  it("answers HEAD with the same ETag as GET, and 304 for it", async () => {
    const get = await api.call("GET", "/whoami", { token: alice });
    const head = await api.call("HEAD", "/whoami", { token: alice });
    expect(head.headers.get("etag")).toBe(get.headers.get("etag"));
    const cond = await api.call("HEAD", "/whoami", {
      token: alice,
      headers: { "if-none-match": get.headers.get("etag") as string },
    });
    expect(cond.status).toBe(304);
  });
});

describe("one-time sign-in", () => {
  it("trades a code for a working token once; a second use, a wrong code and a malformed one get 401 or 400", async () => {
    const code = await mintOneTimeCode(api.engine.stateDir, { team: "acme", member: "alice", admin: false });
    const res = await api.call("POST", "/auth/one-time", { body: { code } });
    expect(res.status).toBe(200);
    conforms("POST", "/auth/one-time", res.body);
    const session = res.body as {
      token: string;
      team: string;
      member: string;
      admin: boolean;
      expiresAt: string;
    };
    expect(session).toMatchObject({ team: "acme", member: "alice", admin: false });
    expect(Date.parse(session.expiresAt)).toBeGreaterThan(Date.now());
    const who = await api.call("GET", "/whoami", { token: session.token });
    expect(who.body).toEqual({ team: "acme", member: "alice", admin: false });

    const reused = await api.call("POST", "/auth/one-time", { body: { code } });
    expect(reused.status).toBe(401);
    expect(reused.text).not.toContain(code);
    const wrong = await api.call("POST", "/auth/one-time", { body: { code: `${code.slice(0, -1)}A` } });
    expect(wrong.status).toBe(401);
    expect((await api.call("POST", "/auth/one-time", { body: { code: "../../signing.key" } })).status).toBe(
      400,
    );
    expect((await api.call("POST", "/auth/one-time", { body: {} })).status).toBe(400);
  });

  it("lets exactly one of two concurrent requests use a code", async () => {
    const code = await mintOneTimeCode(api.engine.stateDir, { team: "acme", member: "root", admin: true });
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => api.call("POST", "/auth/one-time", { body: { code } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401, 401]);
  });

  it("refuses a code after its 10 minutes, and keeps only its hash", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    const { oneTimeDir } = await import("../../../src/local/one-time.ts");
    const minted = new Date("2026-01-01T00:00:00Z");
    const code = await mintOneTimeCode(
      api.engine.stateDir,
      { team: "acme", member: "bob", admin: false },
      minted,
    );
    const dir = oneTimeDir(api.engine.stateDir);
    for (const name of await readdir(dir)) {
      expect(name).not.toContain(code);
      expect(await readFile(`${dir}/${name}`, "utf8")).not.toContain(code);
    }
    const late = new Date(minted.getTime() + ONE_TIME_TTL_MS + 1);
    expect(await redeemOneTimeCode(api.engine.stateDir, code, late)).toBeUndefined();
    // Expired is used up too: it does not work even with the clock turned back.
    expect(await redeemOneTimeCode(api.engine.stateDir, code, minted)).toBeUndefined();
    const inTime = await mintOneTimeCode(
      api.engine.stateDir,
      { team: "acme", member: "bob", admin: false },
      minted,
    );
    expect(
      await redeemOneTimeCode(api.engine.stateDir, inTime, new Date(minted.getTime() + ONE_TIME_TTL_MS - 1)),
    ).toEqual({ team: "acme", member: "bob", admin: false });
  });
});

describe("OPTIONS", () => {
  it("answers a CORS preflight on a path of the API with 204, no body and the methods it takes", async () => {
    const stacks = await api.call("OPTIONS", "/teams/acme/stacks");
    expect(stacks.status).toBe(204);
    expect(stacks.text).toBe("");
    expect(stacks.headers.get("allow")).toBe("POST, GET, HEAD, OPTIONS");
    const one = await api.call("OPTIONS", "/teams/acme/stacks/st-1");
    expect(one.status).toBe(204);
    expect(one.headers.get("allow")?.split(", ").sort()).toEqual(["DELETE", "GET", "HEAD", "OPTIONS"]);
    // The API's 404 elsewhere; the stream takes GET only.
    expect((await api.call("OPTIONS", "/nowhere")).status).toBe(404);
    expect((await api.call("OPTIONS", "/teams/acme/stream")).status).toBe(405);
  });

  it("answers a matching If-None-Match on /openapi.json with 304, as the document declares", async () => {
    const first = await api.call("GET", "/openapi.json");
    const again = await api.call("GET", "/openapi.json", {
      headers: { "if-none-match": first.headers.get("etag") as string },
    });
    expect(again.status).toBe(304);
  });
});
