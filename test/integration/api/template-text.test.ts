import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "./api-server.ts";

// GET /teams/{team}/templates/{name}?version=N: one version with its YAML, which the console's
// editor starts a new version from and its diff compares. Over real HTTP on 127.0.0.1.
let api: TestApi;
let admin: string;
let alice: string;
let otherTeam: string;

const V1 = "servers:\n  - { name: web, provider: sim, type: t3.micro }\n";
const V2 = `${V1}# v2\n`;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
  otherTeam = await api.token("other", "eve", true);
  expect((await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: V1 })).status).toBe(201);
  expect((await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: V2 })).status).toBe(201);
});

afterAll(async () => {
  await api?.close();
});

describe("GET /teams/{team}/templates/{name}?version=N", () => {
  it("answers each version with its YAML, as published", async () => {
    for (const [version, yaml] of [
      [1, V1],
      [2, V2],
    ] as const) {
      const res = await api.call("GET", `/teams/acme/templates/web?version=${version}`, { token: admin });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: "web", version, author: "root", yaml });
      expect((res.body as { hash: string }).hash).toMatch(/^[0-9a-f]{64}$/);
    }
    // Without a version: the list of versions, no text.
    const list = await api.call("GET", "/teams/acme/templates/web", { token: admin });
    expect((list.body as { versions: unknown[] }).versions).toHaveLength(2);
    expect(list.body).not.toHaveProperty("yaml");
  });

  it("lets the team's members read it and refuses other teams", async () => {
    expect((await api.call("GET", "/teams/acme/templates/web?version=1", { token: alice })).status).toBe(200);
    expect((await api.call("GET", "/teams/acme/templates/web?version=1", { token: otherTeam })).status).toBe(
      403,
    );
  });

  it("answers 404 naming the newest version, and 400 for a version that is not one", async () => {
    const missing = await api.call("GET", "/teams/acme/templates/web?version=9", { token: admin });
    expect(missing.status).toBe(404);
    expect((missing.body as { message: string }).message).toBe(
      "template `web` of team `acme` has no version 9; its newest is 2",
    );
    const none = await api.call("GET", "/teams/acme/templates/nope?version=1", { token: admin });
    expect(none.status).toBe(404);
    const bad = await api.call("GET", "/teams/acme/templates/web?version=two", { token: admin });
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toContain("query `version`");
  });
});
