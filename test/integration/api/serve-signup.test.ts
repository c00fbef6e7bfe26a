import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { BIN, finalJson, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";

// The done-when of the three doors: `teamstack serve` on 127.0.0.1, a template published and made
// the default, the same signup event delivered twice, exactly one stack, finished, with artifacts.
let stateDir: string;
let serve: ChildProcess;
let url: string;
let admin: string;

const TEMPLATE = [
  "servers:",
  "  - { name: db, provider: sim, type: t3.micro, options: { boot_ms: 100 } }",
  "  - name: app",
  "    provider: sim",
  "    type: 2cpu/4gb-ram",
  "    user_data: 'echo $servers.db.IP for $koding.userdata.github_username'",
].join("\n");

async function call(method: string, path: string, body?: string | object, token = admin) {
  const res = await checkedFetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-serve-"));
  serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state-dir", stateDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    serve.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    serve.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
    setTimeout(() => reject(new Error("serve did not print its URL")), 15_000);
  });
  const token = await runCli([
    "token",
    "--team",
    "acme",
    "--member",
    "root",
    "--admin",
    "--state-dir",
    stateDir,
  ]);
  expect(token.code).toBe(0);
  admin = token.stdout.trim().split("\n").at(-1) as string;
});

afterAll(async () => {
  serve?.kill("SIGTERM");
  await new Promise((r) => serve?.once("exit", r));
  for (const args of [["list", "--json"]]) {
    const r = await runCli([...args, "--state-dir", stateDir]);
    for (const s of JSON.parse(r.stdout || "[]") as { stackId: string }[]) {
      await runCli(["down", s.stackId, "--state-dir", stateDir]);
    }
  }
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("teamstack serve and the signup door", () => {
  it("provisions exactly one stack for a signup event delivered twice, over HTTP and from the CLI", async () => {
    expect((await call("PUT", "/teams/acme/templates/dev", TEMPLATE)).status).toBe(201);
    expect((await call("POST", "/teams/acme/templates/dev/default")).body).toEqual({
      name: "dev",
      version: 1,
    });
    const event = {
      id: "7f0c1d3e-5b8a-4c2e-9d41-0a6b2c3d4e5f",
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team: "acme", member: "carol", userdata: { github_username: "carol-gh" } },
    };
    const first = await call("POST", "/events", event);
    expect(first.status).toBe(202);
    const again = await call("POST", "/events", event);
    expect(again.body).toEqual(first.body);

    // The CLI delivers the same event through its own door: still the same stack.
    const file = join(stateDir, "event.json");
    writeFileSync(file, JSON.stringify(event));
    const put = await runCli(["events", "put", file, "--state-dir", stateDir], 30_000);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout.trim())).toMatchObject({ stackId: first.body.stackId });

    let stack: Record<string, unknown> = {};
    // Until the run ends, within a minute: a loaded machine may take more than a few seconds.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      stack = (await call("GET", `/teams/acme/stacks/${first.body.stackId}`)).body;
      if (stack.status !== "RUNNING") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(stack).toMatchObject({ status: "SUCCEEDED", member: "carol", updateAvailable: false });
    const artifacts = stack.artifacts as Record<string, { IP?: string }>;
    expect(artifacts.db?.IP).toMatch(/^10\./);
    expect(artifacts.app?.IP).toMatch(/^10\./);

    const stacks = (await call("GET", "/teams/acme/stacks")).body as unknown as { member: string }[];
    expect(stacks.filter((s) => s.member === "carol")).toHaveLength(1);

    const events = await runCli(["events", "list", "--json", "--state-dir", stateDir]);
    const provisioned = [
      expect.objectContaining({
        detailType: "Stack Provisioned",
        detail: expect.objectContaining({ team: "acme", member: "carol" }),
      }),
    ];
    expect(JSON.parse(events.stdout)).toEqual(provisioned);
    // One team's: its own partition's events.
    const acme = await runCli(["events", "list", "--team", "acme", "--json", "--state-dir", stateDir]);
    expect(JSON.parse(acme.stdout)).toEqual(provisioned);
    const other = await runCli(["events", "list", "--team", "other", "--json", "--state-dir", stateDir]);
    expect(JSON.parse(other.stdout)).toEqual([]);
  });

  it("runs CLI reruns through the running server, found on the state directory or named by --endpoint", async () => {
    const stacks = (await call("GET", "/teams/acme/stacks")).body as unknown as { stackId: string }[];
    const id = stacks[0]?.stackId as string;
    const found = await runCli(["rerun", id, "--json", "--state-dir", stateDir], 30_000);
    expect(found.code, found.stderr).toBe(0);
    expect(finalJson(found.stdout)).toMatchObject({ stackId: id, status: "SUCCEEDED", run: 2 });
    const named = await runCli(["rerun", id, "--endpoint", url, "--state-dir", stateDir], 30_000);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stderr).toContain(`on ${url}`);
    const nobody = await runCli(["rerun", id, "--endpoint", "http://127.0.0.1:9", "--state-dir", stateDir]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain("no teamstack API answers at http://127.0.0.1:9");
  });
});
