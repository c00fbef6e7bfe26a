import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { finalJson, runCli } from "../../support/cli.ts";
import { ALLOWED_HOST, type SsrfTargets, startSsrfTargets } from "./sentinel.ts";

// A member's template, run by `teamstack up` as a member runs it: its webhooks and Slack
// webhook_url point at the allowed server, at loopback in other spellings, and at the metadata
// address; the operator allows only 127.0.0.3/32 through TEAMSTACK_EGRESS_ALLOW.

const RULE =
  ": refused by teamstack's egress policy; an operator may allow a range with TEAMSTACK_EGRESS_ALLOW";

let targets: SsrfTargets;
let dir: string;
let status: {
  status: string;
  hooks: { index: number; type: string; status: string; error: string | null }[];
};

beforeAll(async () => {
  targets = await startSsrfTargets();
  dir = mkdtempSync(join(tmpdir(), "teamstack-ssrf-up-"));
  const { port } = targets;
  writeFileSync(
    join(dir, "stack.yaml"),
    [
      "servers:",
      "  - { name: box, provider: sim, type: t3.micro }",
      "post_hooks:",
      `  - webhook: { url: "http://${ALLOWED_HOST}:${port}/ok" }`,
      `  - webhook: { url: "http://2130706433:${port}/steal", continue_on_error: true }`,
      `  - slack_msg: { msg: hi, webhook_url: "http://[::ffff:127.0.0.1]:${port}/x", continue_on_error: true }`,
      `  - webhook: { url: "http://${ALLOWED_HOST}:${port}/redirects", continue_on_error: true }`,
      '  - webhook: { url: "http://169.254.169.254/latest/meta-data/", continue_on_error: true }',
      "",
    ].join("\n"),
  );
  targets.allowed.answer(
    { status: 200, body: "ok" },
    { status: 302, headers: { location: `http://127.1:${port}/steal` } },
  );
  // Not spawnSync: the servers answer from this process's event loop.
  const up = await runCli(
    ["up", join(dir, "stack.yaml"), "--json", "--state-dir", join(dir, "state")],
    90_000,
    { ...process.env, TEAMSTACK_EGRESS_ALLOW: `${ALLOWED_HOST}/32` },
  );
  expect(up.code, up.stderr).toBe(0);
  status = finalJson(up.stdout);
}, 120_000);

afterAll(async () => {
  await targets?.close();
  if (dir) {
    await stopLocalStore(join(dir, "state"));
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("a member's template through `teamstack up`", () => {
  it("posts to the allowed server and refuses every other target, naming the rule", () => {
    expect(status.hooks.map((h) => [h.index, h.type, h.status, h.error])).toEqual([
      [0, "webhook", "SUCCEEDED", null],
      [1, "webhook", "FAILED", `webhook URL host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`],
      [
        2,
        "slack_msg",
        "FAILED",
        `Slack webhook_url host ::ffff:7f00:1 is the IPv4-mapped IPv6 form of 127.0.0.1, loopback (127.0.0.0/8)${RULE}`,
      ],
      [
        3,
        "webhook",
        "FAILED",
        `webhook answered HTTP 302 Found, a redirect to http://127.0.0.1:${targets.port}/steal (redirects are not followed), and its host 127.0.0.1 is loopback (127.0.0.0/8)${RULE}`,
      ],
      [
        4,
        "webhook",
        "FAILED",
        `webhook URL host 169.254.169.254 is a cloud metadata address (169.254.169.254)${RULE}`,
      ],
    ]);
  });

  it("never connected to loopback, and reached the allowed server only for the two allowed hooks", () => {
    expect(targets.connections()).toBe(0);
    expect(targets.allowed.requests.map((r) => r.path)).toEqual(["/ok", "/redirects"]);
  });

  it("stops at start, naming each bad entry, when TEAMSTACK_EGRESS_ALLOW cannot be read", async () => {
    const before = targets.allowed.requests.length;
    const up = await runCli(
      ["up", join(dir, "stack.yaml"), "--json", "--state-dir", join(dir, "state")],
      60_000,
      { ...process.env, TEAMSTACK_EGRESS_ALLOW: "127.0.0.3/32, 127.0.0.1/8 ,example.com" },
    );
    expect(up.code).toBe(1);
    expect(up.stdout).toBe("");
    expect(up.stderr).toContain(
      "TEAMSTACK_EGRESS_ALLOW has 2 bad entries: `127.0.0.1/8`: it has bits set beyond its /8 prefix; did you mean 127.0.0.0/8?; `example.com`: it is not an IPv4 or IPv6 address.",
    );
    expect(targets.allowed.requests.length).toBe(before);
  });
});
