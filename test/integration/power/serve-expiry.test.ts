import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";

// ttl and auto_stop under a real `teamstack serve` (its own process, sim servers): serve's
// scheduler destroys and stops them within 30 s of their due time, once, and records it.

let stateDir: string;
let serve: ChildProcess;
let serveErr = "";
let url: string;
let admin: string;

async function call(method: string, path: string, body?: object) {
  const res = await checkedFetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls the stack through the API until `done` holds, or fails at the deadline. */
async function until(
  stackId: string,
  done: (view: Record<string, unknown>) => boolean,
  ms: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await call("GET", `/teams/acme/stacks/${stackId}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    if (done(r.body)) return r.body;
    if (Date.now() > deadline)
      throw new Error(`stack ${stackId} is ${r.body.status} after ${ms} ms; serve said:\n${serveErr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function create(settings: string): Promise<string> {
  const yaml = `settings: { ${settings} }\nservers:\n  - { name: a, provider: sim, type: t3.micro }\n`;
  const r = await call("POST", "/teams/acme/stacks", { yaml, member: "alice" });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.stackId as string;
}

const events = async (stackId: string) =>
  (await call("GET", `/teams/acme/stacks/${stackId}/events`)).body as unknown as {
    type: string;
    message: string;
  }[];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "teamstack-expiry-"));
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
  const t = await runCli(["token", "--team", "acme", "--member", "root", "--admin", "--state-dir", stateDir]);
  expect(t.code, t.stderr).toBe(0);
  admin = t.stdout.trim().split("\n").at(-1) as string;
}, 60_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill("SIGKILL");
    await new Promise((r) => serve.once("exit", r));
  }
  await stopLocalStore(stateDir);
  await rm(stateDir, { recursive: true, force: true });
});

describe("expiry under teamstack serve", () => {
  it("destroys a stack with ttl: 10s within 30 s of its due time, once, and stops one with auto_stop: 10s", async () => {
    const [ttl, auto] = await Promise.all([create("ttl: 10s"), create("auto_stop: 10s")]);
    const provisioned = await until(ttl, (v) => v.status === "SUCCEEDED", 60_000);
    const started = await until(auto, (v) => v.status === "SUCCEEDED", 60_000);
    const expiresAt = Date.parse(provisioned.expiresAt as string);
    const stopsAt = Date.parse(started.stopsAt as string);
    expect(expiresAt - Date.parse(provisioned.startedAt as string)).toBeLessThanOrEqual(10_000);
    expect(Number.isNaN(stopsAt)).toBe(false);

    const destroyed = await until(ttl, (v) => v.status === "DESTROYED", expiresAt + 30_000 - Date.now());
    expect(Date.parse(destroyed.finishedAt as string)).toBeLessThan(expiresAt + 30_000);
    const stopped = await until(auto, (v) => v.status === "STOPPED", stopsAt + 30_000 - Date.now());
    expect(Date.parse(stopped.stoppedAt as string)).toBeLessThan(stopsAt + 30_000);
    expect(Date.parse(stopped.stoppedAt as string)).toBeGreaterThanOrEqual(stopsAt);
    expect(stopped.stopsAt).toBeUndefined();

    // Each expiry is an event on its stack, once, and an outbound Stack Expired.
    expect((await events(ttl)).filter((e) => e.type === "StackExpired")).toHaveLength(1);
    expect((await events(auto)).filter((e) => e.type === "StackExpired")).toHaveLength(1);
    const out = await runCli(["events", "list", "--json", "--state-dir", stateDir]);
    expect(out.code, out.stderr).toBe(0);
    const expired = (
      JSON.parse(out.stdout) as { detailType: string; detail: Record<string, unknown> }[]
    ).filter((e) => e.detailType === "Stack Expired");
    expect(
      expired.map((e) => e.detail).sort((a, b) => String(a.action).localeCompare(String(b.action))),
    ).toEqual([
      { team: "acme", stackId: ttl, member: "alice", action: "destroy", due: provisioned.expiresAt },
      { team: "acme", stackId: auto, member: "alice", action: "stop", due: started.stopsAt },
    ]);
  }, 150_000);

  it("pushes ttl and auto_stop back with extend (API and CLI), and refuses a stack without them", async () => {
    const both = await create("ttl: 1h, auto_stop: 30m");
    const before = await until(both, (v) => v.status === "SUCCEEDED", 60_000);
    const r = await call("POST", `/teams/acme/stacks/${both}/extend`, { by: "2h" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const hours = (iso: unknown, from: unknown) =>
      (Date.parse(iso as string) - Date.parse(from as string)) / 3_600_000;
    expect(hours(r.body.expiresAt, before.expiresAt)).toBe(2);
    expect(hours(r.body.stopsAt, before.stopsAt)).toBe(2);
    // Through the command line (which goes through the running serve).
    const cli = await runCli(["extend", both, "1d", "--json", "--state-dir", stateDir]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(hours(JSON.parse(cli.stdout).expiresAt, r.body.expiresAt)).toBe(24);
    const after = await until(both, () => true, 1_000);
    expect(hours(after.stopsAt, before.stopsAt)).toBe(26);
    expect((await events(both)).filter((e) => e.type === "ExpiryExtended")).toHaveLength(2);

    const none = await create("max_parallel: 2");
    await until(none, (v) => v.status === "SUCCEEDED", 60_000);
    const refused = await call("POST", `/teams/acme/stacks/${none}/extend`, { by: "2h" });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain("neither settings.ttl nor settings.auto_stop");
    const bad = await call("POST", `/teams/acme/stacks/${both}/extend`, { by: "soon" });
    expect(bad.status).toBe(400);
  }, 120_000);
});
