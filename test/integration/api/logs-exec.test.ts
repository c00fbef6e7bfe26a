import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSchema } from "../../../src/api/json-schema.ts";
import { LOGS_ROUTES } from "../../../src/api/logs-routes.ts";
import { settled, startTestApi, type TestApi } from "./api-server.ts";

// Servers' logs and exec through a real `teamstack serve` on 127.0.0.1: who may read and run what
// (a member their own stacks' servers, an admin the team's, nobody another team's), and the
// answers' shapes against the routes' schemas.

let api: TestApi;

const YAML = `servers:
  - name: db
    provider: sim
    type: t3.micro
    user_data: |
      echo hello from db
post_hooks:
  - run_script:
      target_server: db
      script: echo hook says hi
`;

const route = (method: string, suffix: string) => {
  const r = LOGS_ROUTES.find((x) => x.method === method && x.path.endsWith(suffix));
  if (!r) throw new Error(`no route ${method} ...${suffix}`);
  return r;
};

function conforms(body: unknown, method: string, suffix: string): void {
  expect(checkSchema(body, route(method, suffix).response, "response")).toBeUndefined();
  const required = (route(method, suffix).response as { required?: string[] }).required ?? [];
  for (const name of required) expect(body, name).toHaveProperty(name);
}

let alice: string;
let bob: string;
let admin: string;
let outsider: string;
let stackId: string;

beforeAll(async () => {
  api = await startTestApi();
  alice = await api.token("acme", "alice");
  bob = await api.token("acme", "bob");
  admin = await api.token("acme", "root", true);
  outsider = await api.token("other", "eve", true);
  const made = await api.call("POST", "/teams/acme/stacks", {
    token: alice,
    body: { yaml: YAML, member: "alice" },
  });
  expect(made.status, made.text).toBe(202);
  stackId = (made.body as { stackId: string }).stackId;
  const done = await settled(api, "acme", stackId, alice);
  expect((done.body as { status: string }).status).toBe("SUCCEEDED");
});

afterAll(async () => {
  await api?.close();
});

const logsPath = (server: string, query = "") =>
  `/teams/acme/stacks/${stackId}/servers/${server}/logs${query}`;
const execPath = (server: string) => `/teams/acme/stacks/${stackId}/servers/${server}/exec`;

describe("GET .../servers/{server}/logs", () => {
  it("answers the owner the newest attempt's text, complete, with the next offset", async () => {
    const res = await api.call("GET", logsPath("db"), { token: alice });
    expect(res.status, res.text).toBe(200);
    conforms(res.body, "GET", "/servers/{server}/logs");
    const page = res.body as {
      text: string;
      next: number;
      attempt: number;
      attempts: number;
      complete: boolean;
    };
    expect(page).toMatchObject({
      server: "db",
      attempt: 1,
      attempts: 1,
      offset: 0,
      complete: true,
      truncated: false,
    });
    expect(page.text).toContain("hello from db");
    expect(page.next).toBe(Buffer.byteLength(page.text));
    const rest = await api.call("GET", logsPath("db", `?after=${page.next}&attempt=1`), { token: alice });
    expect(rest.body).toMatchObject({ offset: page.next, next: page.next, text: "", complete: true });
    const part = await api.call("GET", logsPath("db", "?after=6"), { token: admin });
    expect((part.body as { text: string }).text).toBe(page.text.slice(6));
  });

  it("refuses another member (403), another team's admin (403) and no token (401), and lets the team's admin read", async () => {
    expect((await api.call("GET", logsPath("db"), { token: bob })).status).toBe(403);
    const other = await api.call("GET", logsPath("db").replace("/teams/acme", "/teams/other"), {
      token: outsider,
    });
    expect([403, 404]).toContain(other.status);
    expect((await api.call("GET", logsPath("db"), { token: outsider })).status).toBe(403);
    expect((await api.call("GET", logsPath("db"))).status).toBe(401);
    expect((await api.call("GET", logsPath("db"), { token: admin })).status).toBe(200);
  });

  it("says what is wrong with a bad offset, an attempt that is not there and an unknown server", async () => {
    const bad = await api.call("GET", logsPath("db", "?after=abc"), { token: alice });
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toContain("after");
    const none = await api.call("GET", logsPath("db", "?attempt=5"), { token: alice });
    expect(none.status).toBe(404);
    expect((none.body as { message: string }).message).toContain("no attempt 5 (attempts 1 to 1)");
    expect((await api.call("GET", logsPath("nope"), { token: alice })).status).toBe(404);
  });

  it("answers a run_script hook's output at .../hooks/post.0/logs", async () => {
    const res = await api.call("GET", `/teams/acme/stacks/${stackId}/hooks/post.0/logs`, { token: alice });
    expect(res.status, res.text).toBe(200);
    conforms(res.body, "GET", "/hooks/{hook}/logs");
    expect(res.body).toMatchObject({ hook: "post:0", attempt: 1, complete: true });
    expect((res.body as { text: string }).text).toContain("echo hook says hi");
    expect(
      (await api.call("GET", `/teams/acme/stacks/${stackId}/hooks/post.0/logs`, { token: bob })).status,
    ).toBe(403);
    expect(
      (await api.call("GET", `/teams/acme/stacks/${stackId}/hooks/post.7/logs`, { token: alice })).status,
    ).toBe(404);
  });
});

describe("POST .../servers/{server}/exec", () => {
  const body = { command: ["cat", "/etc/config"] };

  it("runs the command on the owner's server and answers exit code and output", async () => {
    const res = await api.call("POST", execPath("db"), { token: alice, body });
    expect(res.status, res.text).toBe(200);
    conforms(res.body, "POST", "/exec");
    expect(res.body).toMatchObject({ exitCode: 0, truncated: false });
    expect((res.body as { output: string }).output).toContain("exec cat /etc/config");
  });

  it("refuses a member's token on another member's server with 403, and runs nothing", async () => {
    const res = await api.call("POST", execPath("db"), { token: bob, body });
    expect(res.status).toBe(403);
    expect(res.body).not.toHaveProperty("output");
    expect((res.body as { message: string }).message).toContain("bob");
    expect((await api.call("POST", execPath("db"), { token: outsider, body })).status).toBe(403);
    expect((await api.call("POST", execPath("db"), { body })).status).toBe(401);
  });

  it("lets the team's admin exec on a member's server", async () => {
    const res = await api.call("POST", execPath("db"), {
      token: admin,
      body: { command: ["true"], timeoutSeconds: 5 },
    });
    expect(res.status, res.text).toBe(200);
    expect((res.body as { exitCode: number }).exitCode).toBe(0);
  });

  it("refuses a body without a command, an empty one, and an unknown server", async () => {
    expect((await api.call("POST", execPath("db"), { token: alice, body: {} })).status).toBe(400);
    expect((await api.call("POST", execPath("db"), { token: alice, body: { command: [] } })).status).toBe(
      400,
    );
    expect(
      (
        await api.call("POST", execPath("db"), {
          token: alice,
          body: { command: ["true"], timeoutSeconds: 0 },
        })
      ).status,
    ).toBe(400);
    expect((await api.call("POST", execPath("nope"), { token: alice, body })).status).toBe(404);
  });
});
