import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../../src/api/routes.ts";
import { settled, startTestApi, type TestApi } from "./api-server.ts";

// Every route of the real handler, over real HTTP on 127.0.0.1, with the local engine behind it.
let api: TestApi;
let admin: string;
let alice: string;
let bob: string;
let otherTeam: string;

const TEMPLATE = [
  "servers:",
  "  - { name: db, provider: sim, type: t3.micro, options: { boot_ms: 50 } }",
  "  - name: app",
  "    provider: sim",
  "    type: t3.micro",
  "    user_data: 'echo $servers.db.IP $koding.userdata.github_username'",
].join("\n");
const SLOW = "servers:\n  - { name: slow, provider: sim, type: t3.micro, options: { boot_ms: 1500 } }\n";

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
  bob = await api.token("acme", "bob");
  otherTeam = await api.token("other", "eve", true);
});

afterAll(async () => {
  await api?.close();
});

const errorOf = (body: unknown) => body as { error: string; message: string; problems?: unknown[] };

describe("templates", () => {
  it("publishes versions with their hash, answers the same YAML with the same version, and lists them", async () => {
    const first = await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: TEMPLATE });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ name: "web", version: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const again = await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: TEMPLATE });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const second = await api.call("PUT", "/teams/acme/templates/web", {
      token: admin,
      body: `${TEMPLATE}\n# v2\n`,
    });
    expect(second.body).toMatchObject({ version: 2 });
    const list = await api.call("GET", "/teams/acme/templates", { token: alice });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([expect.objectContaining({ name: "web", latest: 2, default: false })]);
    const one = await api.call("GET", "/teams/acme/templates/web", { token: alice });
    expect((one.body as { versions: unknown[] }).versions).toHaveLength(2);
  });

  it("answers an invalid template with 422 and every problem with its line and column", async () => {
    const bad =
      "servers:\n  - name: a\n    provider: virtualbox\n    type: t3.micro\n  - { name: a, provider: sim, type: x }\n";
    const res = await api.call("PUT", "/teams/acme/templates/bad", { token: admin, body: bad });
    expect(res.status).toBe(422);
    expect(errorOf(res.body).problems).toEqual([
      expect.objectContaining({
        line: 3,
        column: 15,
        message: expect.stringContaining("unknown provider `virtualbox`"),
      }),
      expect.objectContaining({ line: 5, message: expect.stringContaining("duplicate server name `a`") }),
    ]);
  });

  it("refuses template work from members and other teams, and an empty body", async () => {
    expect((await api.call("PUT", "/teams/acme/templates/x", { token: alice, body: TEMPLATE })).status).toBe(
      403,
    );
    expect(
      (await api.call("PUT", "/teams/acme/templates/x", { token: otherTeam, body: TEMPLATE })).status,
    ).toBe(403);
    expect((await api.call("GET", "/teams/acme/templates", { token: otherTeam })).status).toBe(403);
    expect((await api.call("PUT", "/teams/acme/templates/x", { token: admin, body: "" })).status).toBe(400);
    expect((await api.call("POST", "/teams/acme/templates/web/default", { token: alice })).status).toBe(403);
  });

  it("makes a template the default, and answers 404 for one that does not exist", async () => {
    const res = await api.call("POST", "/teams/acme/templates/web/default", {
      token: admin,
      body: { version: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name: "web", version: 1 });
    expect((await api.call("POST", "/teams/acme/templates/nope/default", { token: admin })).status).toBe(404);
    expect(
      (await api.call("POST", "/teams/acme/templates/web/default", { token: admin, body: { version: 9 } }))
        .status,
    ).toBe(404);
    expect(
      (await api.call("POST", "/teams/acme/templates/web/default", { token: admin, body: { v: 1 } })).status,
    ).toBe(400);
    expect((await api.call("GET", "/teams/acme/templates/nope", { token: admin })).status).toBe(404);
  });
});

describe("members and stacks", () => {
  it("stores a member's data, by the member or an admin only", async () => {
    const res = await api.call("PUT", "/teams/acme/members/alice", {
      token: alice,
      body: { github_username: "alice-gh" },
    });
    expect(res.status).toBe(200);
    expect(
      (await api.call("PUT", "/teams/acme/members/alice", { token: bob, body: { x: "y" } })).status,
    ).toBe(403);
    expect(
      (await api.call("PUT", "/teams/acme/members/alice", { token: alice, body: { x: 1 } })).status,
    ).toBe(400);
    expect((await api.call("PUT", "/teams/acme/members/alice", { token: alice, body: "{" })).status).toBe(
      400,
    );
  });

  it("creates a stack once per Idempotency-Key and runs it to the end", async () => {
    // Version 1 of a template that has a version 2: the stack offers the update.
    const body = { template: "web", version: 1, member: "alice" };
    const headers = { "idempotency-key": "create-1" };
    const first = await api.call("POST", "/teams/acme/stacks", { token: alice, body, headers });
    expect(first.status).toBe(202);
    const { stackId } = first.body as { stackId: string };
    const retry = await api.call("POST", "/teams/acme/stacks", { token: alice, body, headers });
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    const reused = await api.call("POST", "/teams/acme/stacks", {
      token: alice,
      body: { ...body, userdata: { a: "b" } },
      headers,
    });
    expect(reused.status).toBe(409);

    const done = await settled(api, "acme", stackId, alice);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: "SUCCEEDED", updateAvailable: true, member: "alice" });
    const servers = (done.body as { servers: { name: string; artifacts: { IP: string } }[] }).servers;
    expect(servers.map((s) => s.name)).toEqual(["db", "app"]);
    const list = await api.call("GET", "/teams/acme/stacks", { token: alice });
    expect(list.body).toEqual([
      expect.objectContaining({ stackId, member: "alice", status: "SUCCEEDED", template: "web", version: 1 }),
    ]);
    const events = await api.call("GET", `/teams/acme/stacks/${stackId}/events`, { token: alice });
    expect((events.body as { type: string }[]).map((e) => e.type)).toContain("StackProvisioned");
    // Another member sees neither the stack nor it in the list.
    expect((await api.call("GET", `/teams/acme/stacks/${stackId}`, { token: bob })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/stacks", { token: bob })).body).toEqual([]);
  });

  it("answers stack requests it cannot serve with 400, 403, 404 and 422", async () => {
    const post = (token: string, body: unknown) =>
      api.call("POST", "/teams/acme/stacks", { token, body: body as object });
    expect((await post(alice, { member: "alice" })).status).toBe(400);
    expect((await post(alice, { template: "web", yaml: "x", member: "alice" })).status).toBe(400);
    expect((await post(alice, { template: "web", member: "alice", colour: "red" })).status).toBe(400);
    expect((await post(alice, { template: "web", member: "bob" })).status).toBe(403);
    expect((await post(alice, { template: "nope", member: "alice" })).status).toBe(404);
    const invalid = await post(alice, { yaml: "servers: [{ name: a }]", member: "alice" });
    expect(invalid.status).toBe(422);
    expect(errorOf(invalid.body).problems?.length).toBeGreaterThan(0);
    const aws = await post(alice, {
      yaml: "servers: [{ name: a, provider: aws, type: t3.micro }]",
      member: "alice",
    });
    expect(aws.status).toBe(422);
    expect(errorOf(aws.body).message).toContain('"simulate"');
    const userdata = await post(bob, { template: "web", member: "bob" });
    expect(userdata.status).toBe(422);
    expect(errorOf(userdata.body).message).toContain("$koding.userdata.github_username");
    expect((await api.call("GET", "/teams/acme/stacks/st-nope", { token: alice })).status).toBe(404);
    expect((await api.call("GET", "/teams/acme/stacks/bad%20id", { token: alice })).status).toBe(400);
  });

  it("refuses rerun and delete with 409 while the stack runs, then serves both", async () => {
    const res = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { yaml: SLOW, member: "root" },
    });
    const { stackId } = res.body as { stackId: string };
    // Until the run holds the stack's lock (Prepare takes it; the server boots for 1.5 s after).
    for (const until = Date.now() + 30_000; Date.now() < until; ) {
      const view = await api.call("GET", `/teams/acme/stacks/${stackId}`, { token: admin });
      if ((view.body as { lock?: unknown }).lock) break;
    }
    const rerun = await api.call("POST", `/teams/acme/stacks/${stackId}/rerun`, { token: admin });
    expect(rerun.status).toBe(409);
    expect(errorOf(rerun.body).message).toMatch(/while run 1 \(execution local:/);
    expect((await api.call("DELETE", `/teams/acme/stacks/${stackId}`, { token: admin })).status).toBe(409);
    await settled(api, "acme", stackId, admin);
    const again = await api.call("POST", `/teams/acme/stacks/${stackId}/rerun`, { token: admin });
    expect(again.status).toBe(202);
    await settled(api, "acme", stackId, admin);
    const del = await api.call("DELETE", `/teams/acme/stacks/${stackId}`, { token: admin });
    expect(del.status).toBe(202);
    expect((await settled(api, "acme", stackId, admin)).body).toMatchObject({ status: "DESTROYED" });
    expect((await api.call("POST", `/teams/acme/stacks/${stackId}/rerun`, { token: admin })).status).toBe(
      409,
    );
  });
});

describe("auth and errors", () => {
  it("answers 401 without a token, with a bad one and with an expired one", async () => {
    expect((await api.call("GET", "/teams/acme/stacks")).status).toBe(401);
    const bad = await api.call("GET", "/teams/acme/stacks", { headers: { authorization: "Bearer x.y.z" } });
    expect(bad.status).toBe(401);
    expect(errorOf(bad.body).error).toBe("Unauthorized");
    const expired = await api.token("acme", "alice", false, { exp: Math.floor(Date.now() / 1000) - 60 });
    expect(errorOf((await api.call("GET", "/teams/acme/stacks", { token: expired })).body).message).toContain(
      "expired",
    );
    const forged = `${alice.slice(0, -4)}AAAA`;
    expect((await api.call("GET", "/teams/acme/stacks", { token: forged })).status).toBe(401);
  });

  it("answers 404 for unknown paths and 405 with Allow for a wrong method", async () => {
    expect((await api.call("GET", "/nope", { token: admin })).status).toBe(404);
    const res = await api.call("PATCH", "/teams/acme/stacks", { token: admin });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, GET, HEAD");
  });

  it("serves an OpenAPI 3.1 document, without a token, that validates and lists every route", async () => {
    const res = await api.call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = res.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe("3.1.0");
    expect(await new Validator().validate(doc as never)).toEqual({ valid: true });
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it("serves every documented route (a request without a token gets 401, never 404)", async () => {
    for (const r of ROUTES) {
      if (!r.auth) continue;
      const path = r.path.replace(/\{\w+\}/g, "x1");
      const res = await api.call(r.method, path);
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it("answers 403, 404 and 400 on the stack routes of another team or an unknown stack", async () => {
    expect((await api.call("GET", "/teams/acme/stacks", { token: otherTeam })).status).toBe(403);
    expect((await api.call("POST", "/teams/acme/stacks/st-nope/rerun", { token: admin })).status).toBe(404);
    expect((await api.call("DELETE", "/teams/acme/stacks/st-nope", { token: admin })).status).toBe(404);
    expect((await api.call("GET", "/teams/acme/stacks/st-nope/events", { token: admin })).status).toBe(404);
    expect(
      (await api.call("POST", "/teams/acme/stacks/st-nope/rerun", { token: admin, body: "{}" })).status,
    ).toBe(400);
  });

  it("takes signup events from the team's admin only, and answers 400 and 422 for events it cannot use", async () => {
    const event = (team: string, extra: object = {}) => ({
      id: `evt-${team}`,
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team, member: "dave" },
      ...extra,
    });
    expect((await api.call("POST", "/events", { token: alice, body: event("acme") })).status).toBe(403);
    expect((await api.call("POST", "/events", { token: admin, body: event("other") })).status).toBe(403);
    expect(
      (await api.call("POST", "/events", { token: admin, body: event("acme", { source: "x" }) })).status,
    ).toBe(400);
    expect(
      (await api.call("POST", "/events", { token: admin, body: { ...event("acme"), detail: {} } })).status,
    ).toBe(400);
    const noDefault = await api.call("POST", "/events", { token: otherTeam, body: event("other") });
    expect(noDefault.status).toBe(422);
    expect(errorOf(noDefault.body).message).toContain("has no default template");
  });

  it("registers a team's AWS role for admins only, keeping the ExternalId to itself", async () => {
    const body = {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-servers",
      externalId: "0123456789abcdef0123",
      region: "eu-west-1",
    };
    const res = await api.call("PUT", "/teams/acme/credentials/default", { token: admin, body });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      name: "default",
      kind: "role",
      roleArn: body.roleArn,
      region: "eu-west-1",
      provider: "aws",
      fields: ["roleArn", "externalId", "region"],
      values: { roleArn: body.roleArn, region: "eu-west-1" },
      secretFields: ["externalId"],
      updatedAt: expect.any(String),
    });
    expect(res.text).not.toContain(body.externalId);
    expect(await api.engine.store.getCredential("acme", "default")).toMatchObject({
      externalId: body.externalId,
    });
    expect((await api.call("PUT", "/teams/acme/credentials/default", { token: alice, body })).status).toBe(
      403,
    );
    const other = { ...body, roleArn: "arn:aws:iam::123456789012:role/admin" };
    const refused = await api.call("PUT", "/teams/acme/credentials/default", { token: admin, body: other });
    expect(refused.status).toBe(400);
    expect(errorOf(refused.body).message).toContain("roleArn");
    const short = await api.call("PUT", "/teams/acme/credentials/default", {
      token: admin,
      body: { ...body, externalId: "x" },
    });
    expect(short.status).toBe(400);
  });

  it("counts a member secret as given userdata, without echoing it", async () => {
    const before = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { template: "web", member: "erin" },
    });
    expect(before.status).toBe(422);
    await api.engine.secrets.set({ team: "acme", member: "erin" }, "github_username", "erin-secret-handle");
    const res = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { template: "web", member: "erin" },
    });
    expect(res.status).toBe(202);
    const done = await settled(api, "acme", (res.body as { stackId: string }).stackId, admin);
    expect(done.body).toMatchObject({ status: "SUCCEEDED" });
    expect(done.text).not.toContain("erin-secret-handle");
  });
});
