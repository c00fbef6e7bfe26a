import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning, readDaemonInfo, storePaths } from "../../../src/local/dynamo/files.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";

// One member's failing and hung stacks through `teamstack serve` (a member token, sim servers):
// serve keeps answering every other team, and a killed store daemon does not stop it either.

let stateDir: string;
let serve: ChildProcess;
let serveErr = "";
let url: string;
let mallory: string;
let alice: string;

async function tokenFor(team: string, member: string): Promise<string> {
  const r = await runCli(["token", "--team", team, "--member", member, "--state-dir", stateDir]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split("\n").at(-1) as string;
}

async function call(token: string, method: string, path: string, body?: object) {
  const res = await checkedFetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls the stack through the API until its run has ended (every poll is an answered request). */
async function ended(token: string, team: string, stackId: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await call(token, "GET", `/teams/${team}/stacks/${stackId}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    if (r.body.status !== "RUNNING" && r.body.status !== "DESTROYING") return r.body;
    if (Date.now() > deadline) throw new Error(`stack ${stackId} still runs after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "teamstack-isolation-"));
  serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state-dir", stateDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  serve.stderr?.setEncoding("utf8").on("data", (d: string) => {
    serveErr += d;
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    serve.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    serve.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${serveErr}`)));
  });
  mallory = await tokenFor("evil", "mallory");
  alice = await tokenFor("good", "alice");
}, 60_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill("SIGKILL");
    await new Promise((r) => serve.once("exit", r));
  }
  await stopLocalStore(stateDir);
  await rm(stateDir, { recursive: true, force: true });
});

/** Failing templates of every kind, sim only; `i` varies boot times so runs interleave differently. */
function failing(i: number): string {
  const kind = i % 4;
  const boot = 100 + (i % 20);
  if (kind === 0) {
    // A dependency that fails while its dependents park (the race that ended serve).
    return [
      "settings: { max_parallel: 2 }",
      "servers:",
      "  - { name: r, provider: sim, type: t3.micro, options: { fail: true, boot_ms: 120 } }",
      `  - { name: x, provider: sim, type: t3.micro, options: { boot_ms: ${boot} } }`,
      "  - { name: d, provider: sim, type: t3.micro, depends_on: [r] }",
      "  - { name: e, provider: sim, type: t3.micro, depends_on: [d, x] }",
    ].join("\n");
  }
  if (kind === 1) {
    // A server that never becomes ready in time, with a dependent.
    return [
      "settings: { server_timeout: 1 }",
      "servers:",
      "  - { name: slow, provider: sim, type: t3.micro, options: { boot_ms: 600000 } }",
      "  - { name: after, provider: sim, type: t3.micro, depends_on: [slow] }",
    ].join("\n");
  }
  if (kind === 2) {
    // A post hook that fails (it names a signing secret the team does not have).
    return [
      "servers:",
      `  - { name: a, provider: sim, type: t3.micro, options: { boot_ms: ${boot} } }`,
      "post_hooks:",
      "  - webhook: { url: 'https://ci.example.com/hook', secret: not_set }",
    ].join("\n");
  }
  // Random failures across a fan-out, rolled back.
  return [
    "settings: { on_failure: rollback, max_parallel: 3 }",
    "servers:",
    `  - { name: root, provider: sim, type: t3.micro, options: { fail: 0.5, seed: ${i} } }`,
    ...Array.from(
      { length: 4 },
      (_, j) =>
        `  - { name: f${j}, provider: sim, type: t3.micro, depends_on: [root], options: { fail: 0.5, seed: ${i * 10 + j} } }`,
    ),
  ].join("\n");
}

/** Another team's ordinary stack. */
const GOOD = [
  "servers:",
  "  - { name: db, provider: sim, type: t3.micro, options: { boot_ms: 50 } }",
  "  - { name: app, provider: sim, type: t3.micro, depends_on: [db] }",
].join("\n");

let hungStack = "";

describe("teamstack serve under one member's failing stacks", () => {
  it("keeps answering every other team through 50 failing stacks and a hung one", async () => {
    const hung = await call(mallory, "POST", "/teams/evil/stacks", {
      member: "mallory",
      yaml: "servers:\n  - { name: stuck, provider: sim, type: t3.micro, options: { boot_ms: 3600000 } }\n",
    });
    expect(hung.status, JSON.stringify(hung.body)).toBe(202);
    hungStack = hung.body.stackId as string;

    const created = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(mallory, "POST", "/teams/evil/stacks", { member: "mallory", yaml: failing(i) }),
      ),
    );
    for (const c of created) expect(c.status, `${JSON.stringify(c.body)}\n${serveErr}`).toBe(202);

    // While they run, another team provisions, lists and reads as usual.
    const good = await call(alice, "POST", "/teams/good/stacks", { member: "alice", yaml: GOOD });
    expect(good.status, JSON.stringify(good.body)).toBe(202);
    expect((await ended(alice, "good", good.body.stackId as string)).status).toBe("SUCCEEDED");

    const outcomes = await Promise.all(created.map((c) => ended(mallory, "evil", c.body.stackId as string)));
    const statuses = outcomes.map((o) => o.status);
    // Kind 3 fails at random (a seeded draw): most of those runs fail, the others may succeed.
    for (const [i, status] of statuses.entries())
      if (i % 4 !== 3) expect(status, `stack ${i}`).toBe("FAILED");
    expect(statuses.filter((s) => s === "FAILED").length).toBeGreaterThan(40);

    // Serve is alive, still answers the other team, and never logged a bug.
    expect(serve.exitCode).toBeNull();
    const list = await call(alice, "GET", "/teams/good/stacks");
    expect(list.status).toBe(200);
    expect((await call(mallory, "GET", `/teams/evil/stacks/${hung.body.stackId}`)).body.status).toBe(
      "RUNNING",
    );
    expect(serveErr).not.toMatch(/internal error|unhandled/i);
  }, 240_000);

  it("keeps serving after its store daemon is killed: it starts it again", async () => {
    const before = await readDaemonInfo(storePaths(stateDir).info);
    expect(before).toBeDefined();
    process.kill(before?.pid as number, "SIGKILL");
    const deadline = Date.now() + 30_000;
    // Serve notices within a second and starts a new daemon on the same socket.
    let after = await readDaemonInfo(storePaths(stateDir).info);
    while (after === undefined || after.pid === before?.pid || !(await isRunning(after.pid))) {
      if (Date.now() > deadline) throw new Error(`no new store daemon within 30 s: ${serveErr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await readDaemonInfo(storePaths(stateDir).info);
    }
    const good = await call(alice, "POST", "/teams/good/stacks", { member: "alice", yaml: GOOD });
    expect(good.status, JSON.stringify(good.body)).toBe(202);
    expect((await ended(alice, "good", good.body.stackId as string)).status).toBe("SUCCEEDED");
    expect(serve.exitCode).toBeNull();
    expect(serveErr).not.toMatch(/internal error|unhandled/i);
  }, 60_000);

  it("stops on SIGTERM without waiting for the hung stack, which shows as INTERRUPTED for a rerun", async () => {
    expect(hungStack).not.toBe("");
    // The daemon-restart test above was seen by serve's log.
    expect(serveErr).toMatch(/teamstack serve: the local store daemon \(pid \d+\) exited; started it again/);
    const exited = new Promise<number | null>((resolve) => serve.once("exit", resolve));
    serve.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(serveErr).toContain("teamstack serve: stopping (SIGTERM); running stacks stop where they are");
    expect(serveErr).not.toMatch(/internal error|unhandled/i);
    const status = await runCli(["status", hungStack, "--state-dir", stateDir]);
    expect(status.stdout).toMatch(new RegExp(`^stack ${hungStack} .*: INTERRUPTED$`, "m"));
  }, 60_000);
});
