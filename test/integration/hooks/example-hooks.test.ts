import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { BIN, finalJson, ROOT, runCli } from "../../support/cli.ts";
import { type RecordingServer, startRecordingServer } from "./recording-server.ts";

// The example template, run by `teamstack up` like `npm start`, with every service pointed at a
// recording server on 127.0.0.1 and the team's credentials set as secrets.
let server: RecordingServer;
let stateDir: string;
let status: {
  stackId: string;
  status: string;
  hooks: { phase: string; index: number; type: string; status: string; output: string | null }[];
  artifacts: Record<string, { IP?: string }>;
};
let stderr = "";
const SECRET_KEY = "aws-secret-from-the-member-9f2c";
const X = {
  x_consumer_key: "ck-123",
  x_consumer_secret: "cs-456",
  x_access_token: "at-789",
  x_access_token_secret: "ats-012",
};

function setSecret(name: string, value: string, member?: string) {
  const args = [
    BIN,
    "secrets",
    "set",
    "--team",
    "local",
    ...(member ? ["--member", member] : []),
    name,
    "--state-dir",
    stateDir,
  ];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, input: value, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

/** RFC 3986 percent-encoding, as OAuth 1.0a requires. */
const pct = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

beforeAll(async () => {
  server = await startRecordingServer();
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-example-hooks-"));
  setSecret("github_token", "ghp_example_token");
  setSecret("slack_token", "xoxb-example-token");
  for (const [k, v] of Object.entries(X)) setSecret(k, v);
  setSecret("AWS_SECRET_KEY", SECRET_KEY, "octocat");
  server.answer(
    { status: 200, body: { state: "active", role: "member" } },
    { status: 200, body: { state: "active", role: "member" } },
    { status: 201, body: { data: { id: "1", text: "provisioning complete" } } },
    { status: 200, body: { ok: true, channel: "C1", ts: "1.2" } },
  );
  const env = {
    ...process.env,
    TEAMSTACK_GITHUB_URL: `${server.url}/github`,
    TEAMSTACK_SLACK_URL: `${server.url}/slack`,
    TEAMSTACK_X_URL: `${server.url}/x`,
  };
  // Not spawnSync: the recording server answers from this process's event loop.
  const up = await runCli(
    [
      "up",
      "examples/team-stack.yaml",
      "--simulate-provider",
      "aws",
      "--member",
      "octocat",
      "--userdata",
      "test/fixtures/userdata/octocat.json",
      "--json",
      "--state-dir",
      stateDir,
    ],
    110_000,
    env,
  );
  stderr = up.stderr;
  expect(up.code, up.stderr).toBe(0);
  status = finalJson(up.stdout);
  // `up` runs a whole stack in a child process: give it room on a loaded machine.
}, 120_000);

afterAll(async () => {
  if (status?.stackId) await runCli(["down", status.stackId, "--state-dir", stateDir]);
  await server?.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the example template's hooks, end to end against a recording server", () => {
  it("adds the member to the GitHub team before and after the servers", () => {
    const github = server.requests.filter((r) => r.path.startsWith("/github/"));
    expect(github).toHaveLength(2);
    for (const r of github) {
      expect(r.method).toBe("PUT");
      expect(r.path).toBe("/github/orgs/koding/teams/backend/memberships/octocat");
      expect(r.headers.authorization).toBe("Bearer ghp_example_token");
      expect(r.headers.accept).toBe("application/vnd.github+json");
      expect(JSON.parse(r.body)).toEqual({ role: "member" });
    }
    expect(status.hooks.filter((h) => h.type === "add_github_user").map((h) => h.status)).toEqual([
      "SUCCEEDED",
      "SUCCEEDED",
    ]);
  });

  it("runs the two scripts with their interpolated artifacts, the member secret masked", () => {
    const scripts = status.hooks.filter((h) => h.type === "run_script");
    expect(scripts.map((h) => h.status)).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    expect(scripts[0]?.output).toContain("echo naber gokmen ***");
    expect(scripts[1]?.output).toContain(`echo naber fatih ${status.artifacts.mysql?.IP}`);
    expect(scripts[1]?.output).toContain(
      `echo ${status.stackId.length > 0 ? "octocat.local.teamstack.local" : ""}`,
    );
    expect(JSON.stringify(status)).not.toContain(SECRET_KEY);
    expect(stderr).not.toContain(SECRET_KEY);
  });

  it("posts the tweet signed with OAuth 1.0a user context", () => {
    const [tweet] = server.requests.filter((r) => r.path.startsWith("/x/"));
    expect(tweet?.method).toBe("POST");
    expect(tweet?.path).toBe("/x/2/tweets");
    expect(JSON.parse(tweet?.body ?? "")).toEqual({ text: "provisioning complete" });
    const header = String(tweet?.headers.authorization);
    expect(header).toMatch(/^OAuth /);
    const params = Object.fromEntries(
      [...header.slice(6).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [
        m[1],
        decodeURIComponent(m[2] as string),
      ]),
    );
    expect(params).toMatchObject({
      oauth_consumer_key: "ck-123",
      oauth_token: "at-789",
      oauth_signature_method: "HMAC-SHA1",
      oauth_version: "1.0",
    });
    // Recompute the signature from the request as received (JSON bodies are not signed).
    const { oauth_signature: signature, ...signed } = params as Record<string, string>;
    const normalized = Object.entries(signed)
      .map(([k, v]) => [pct(k), pct(v)])
      .sort(([a, x], [b, y]) =>
        a === b ? (x as string).localeCompare(y as string) : (a as string).localeCompare(b as string),
      )
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const base = ["POST", pct(`${server.url}/x/2/tweets`), pct(normalized)].join("&");
    const expected = createHmac("sha1", `${pct(X.x_consumer_secret)}&${pct(X.x_access_token_secret)}`)
      .update(base)
      .digest("base64");
    expect(signature).toBe(expected);
  });

  it("posts the Slack message with the bot token", () => {
    const [slack] = server.requests.filter((r) => r.path.startsWith("/slack/"));
    expect(slack?.path).toBe("/slack/chat.postMessage");
    expect(slack?.headers.authorization).toBe("Bearer xoxb-example-token");
    expect(JSON.parse(slack?.body ?? "")).toEqual({ channel: "joe", text: "provisioning complete" });
    expect(status.status).toBe("SUCCEEDED");
    expect(status.hooks.map((h) => `${h.phase}:${h.index}`)).toEqual([
      "pre:0",
      "post:0",
      "post:1",
      "post:2",
      "post:3",
      "post:4",
    ]);
  });
});
