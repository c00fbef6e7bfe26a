import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../../../src/api/openapi.ts";
import { startTestApi, type TestApi } from "./api-server.ts";

// The rollout routes over real HTTP on 127.0.0.1 (a real `serve`): what they accept, and the
// errors a caller gets for what they do not. The waves themselves: rollout-runner.test.ts.
let api: TestApi;
let admin: string;
let alice: string;
let otherTeam: string;

const V1 = "servers:\n  - { name: web, provider: sim, type: t3.micro, options: { boot_ms: 10 } }\n";

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
  otherTeam = await api.token("other", "eve", true);
  await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: V1 });
  for (const member of ["alice", "bob"]) {
    const res = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { template: "web", member },
    });
    expect(res.status).toBe(202);
  }
  await api.server.idle();
  await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: `${V1}# v2\n` });
});

afterAll(async () => {
  await api?.close();
});

const message = (body: unknown) => (body as { message: string }).message;
const rollout = (body: unknown, token = admin, name = "web") =>
  api.call("POST", `/teams/acme/templates/${name}/rollout`, { token, body: body as object });

describe("POST /teams/{team}/templates/{name}/rollout", () => {
  it.each([
    [{}, "body: missing field `version`"],
    [{ version: "2" }, "body.version: expected a whole number"],
    [{ version: 0 }, "body.version"],
    [{ version: 2, canary: -1 }, "body.canary"],
    [{ version: 2, batch: 0 }, "body.batch"],
    [{ version: 2, max_failed_percent: 101 }, "body.max_failed_percent"],
    [{ version: 2, max_failed_percent: 10.5 }, "body.max_failed_percent: expected a whole number"],
    [{ version: 2, maxFailedPercent: 10 }, "maxFailedPercent"],
  ])("refuses %j with 400, naming the field", async (body, expected) => {
    const res = await rollout(body);
    expect(res.status).toBe(400);
    expect(message(res.body)).toContain(expected);
  });

  it("refuses a body that is not JSON, and no body", async () => {
    expect(
      (await api.call("POST", "/teams/acme/templates/web/rollout", { token: admin, body: "{" })).status,
    ).toBe(400);
    const none = await api.call("POST", "/teams/acme/templates/web/rollout", { token: admin });
    expect(none.status).toBe(400);
    expect(message(none.body)).toBe("a JSON body is required");
  });

  it("refuses members and other teams' admins with 403", async () => {
    const member = await rollout({ version: 2 }, alice);
    expect(member.status).toBe(403);
    expect(message(member.body)).toBe("starting a rollout needs a team admin's token");
    expect((await rollout({ version: 2 }, otherTeam)).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/rollouts", { token: alice })).status).toBe(403);
  });

  it("answers 404 for a version or a template that does not exist", async () => {
    const version = await rollout({ version: 7 });
    expect(version.status).toBe(404);
    expect(message(version.body)).toBe("template `web` of team `acme` has no version 7; its newest is 2");
    const template = await rollout({ version: 1 }, admin, "nope");
    expect(template.status).toBe(404);
    expect(message(template.body)).toBe("team `acme` has no template `nope`");
  });

  it("answers 404 for a rollout that does not exist", async () => {
    const res = await api.call("GET", "/teams/acme/rollouts/ro-none", { token: admin });
    expect(res.status).toBe(404);
    expect(message(res.body)).toBe("team `acme` has no rollout `ro-none`");
  });
});

describe("GET /teams/{team}/stacks?outdated=true", () => {
  it("lists the stacks behind their template's newest version, with it", async () => {
    const all = await api.call("GET", "/teams/acme/stacks", { token: admin });
    expect(all.body).toHaveLength(2);
    const res = await api.call("GET", "/teams/acme/stacks?outdated=true", { token: admin });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      expect.objectContaining({ template: "web", version: 1, latest: 2 }),
      expect.objectContaining({ template: "web", version: 1, latest: 2 }),
    ]);
    // A member sees only their own.
    const own = await api.call("GET", "/teams/acme/stacks?outdated=true", { token: alice });
    expect(own.body).toEqual([expect.objectContaining({ member: "alice", latest: 2 })]);
    const none = await api.call("GET", "/teams/acme/stacks?outdated=false", { token: admin });
    expect(none.body).toHaveLength(2);
  });

  it("refuses an outdated value other than true or false", async () => {
    const res = await api.call("GET", "/teams/acme/stacks?outdated=yes", { token: admin });
    expect(res.status).toBe(400);
    expect(message(res.body)).toBe("outdated `yes`: expected true or false");
  });
});

describe("the OpenAPI document", () => {
  it("describes the rollout routes and the outdated parameter", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { parameters?: unknown[] }>> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/teams/{team}/templates/{name}/rollout",
        "/teams/{team}/rollouts",
        "/teams/{team}/rollouts/{id}",
      ]),
    );
    expect(doc.paths["/teams/{team}/stacks"]?.get?.parameters).toContainEqual(
      expect.objectContaining({ name: "outdated", in: "query", required: false }),
    );
  });
});
