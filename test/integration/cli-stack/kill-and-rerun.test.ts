import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLocalStore, type LocalStore } from "../../../src/local/dynamo.ts";
import { type StackStatusView, stackStatus as statusFromStore } from "../../../src/pipeline/status.ts";
import type { Store } from "../../../src/ports/store.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import {
  finalJson,
  leasesOf,
  listStacks,
  liveSandboxes,
  type RunningCli,
  recordedHolder,
  runCli,
  sandboxDirs,
  sandboxProcesses,
  serverOf,
  shown,
  simAttempts,
  stackStatus,
  startCli,
  tearDown,
  tempStateDir,
  until,
} from "./stack-cli.ts";

// `teamstack up` SIGKILLed mid-run, then `teamstack rerun`: the run converges to exactly the
// template's servers, and nothing is created twice. Every test has its own stack (its own
// --member, so that tests running at once never mistake each other's stacks).

const TEAM = "local";
const SIM = ["root", "a", "b", "f1", "f2", "f3"];
const LOCAL = ["lone", "edge"];

/** A chain (root → a → b), a fan-out (root → f1..f3), a sandbox alone and one that needs `a`. */
const TEMPLATE = `
servers:
  - { name: root, provider: sim, type: t3.micro, options: { boot_ms: 400 } }
  - { name: a, provider: sim, type: t3.micro, depends_on: [root], options: { boot_ms: 500 } }
  - { name: b, provider: sim, type: t3.micro, depends_on: [a], options: { boot_ms: 400 } }
  - { name: f1, provider: sim, type: t3.micro, depends_on: [root], options: { boot_ms: 300 } }
  - { name: f2, provider: sim, type: t3.micro, depends_on: [root], options: { boot_ms: 600 } }
  - { name: f3, provider: sim, type: t3.micro, depends_on: [root], options: { boot_ms: 800 } }
  - name: lone
    provider: local
    type: sandbox
    user_data: |
      echo lone > /etc/config
      sleep 0.3
  - name: edge
    provider: local
    type: sandbox
    user_data: |
      echo "a=$servers.a.IP" >> /etc/config
`;

/**
 * Two slow servers, and a third that only a rerun reaches (it waits for both): a rerun holds the
 * stack's lock for 10 s or more after it takes it over, so a second rerun started beside it meets
 * that lock however late a busy machine starts it.
 */
const SLOW = `
servers:
  - { name: s1, provider: sim, type: t3.micro, options: { boot_ms: 2500 } }
  - { name: s2, provider: sim, type: t3.micro, options: { boot_ms: 2500 } }
  - { name: s3, provider: sim, type: t3.micro, depends_on: [s1, s2], options: { boot_ms: 10000 } }
`;

/** Generous: eight of these tests run at once, on a machine that may be busy. */
const RUN_MS = 150_000;
const TEST_MS = 240_000;

let stateDir: string;
let templateFile: string;
let slowFile: string;
let local: LocalStore | undefined;
let store: Store;

beforeAll(async () => {
  stateDir = await tempStateDir("kill-rerun");
  templateFile = join(stateDir, "chain-and-fan-out.yaml");
  slowFile = join(stateDir, "slow.yaml");
  await writeFile(templateFile, TEMPLATE);
  await writeFile(slowFile, SLOW);
  // The test reads the store itself: to kill `up` at the right moment, and to read events.
  local = await ensureLocalStore(stateDir);
  store = createDynamoStore({ client: local.client, tableName: local.tableName });
});

afterAll(async () => {
  local?.close();
  await tearDown(stateDir);
}, TEST_MS);

interface Up extends RunningCli {
  /** The stack this `up` recorded, once it has. */
  stackId(): Promise<string | undefined>;
}

function startUp(file: string, member: string): Up {
  const up = startCli(["up", file, "--member", member, "--json", "--state-dir", stateDir], RUN_MS);
  return {
    ...up,
    async stackId() {
      return (await store.listStacks(TEAM)).find((s) => s.member === member)?.stackId;
    },
  };
}

function recorded(up: Up): Promise<string> {
  return until("the stack to be recorded", () => up.stackId(), RUN_MS);
}

/** Resolves once the store records server `server` of the stack as ready. */
function serverReady(id: string, server: string): Promise<true> {
  return until(
    `${server} to be ready`,
    async () =>
      (await store.getServer({ team: TEAM, stackId: id }, server))?.status === "SUCCEEDED" ? true : undefined,
    RUN_MS,
  );
}

function sandboxStarted(id: string, server: string): Promise<true> {
  return until(
    `${server}'s sandbox to be started`,
    async () => (existsSync(join(stateDir, "sandboxes", id, server, "request.json")) ? true : undefined),
    RUN_MS,
  );
}

function simStarted(id: string, count: number): Promise<true> {
  return until(
    `${count} sim servers to be created`,
    async () => ((await simAttempts(stateDir, id)).size >= count ? true : undefined),
    RUN_MS,
  );
}

async function killed(run: RunningCli): Promise<void> {
  run.child.kill("SIGKILL");
  const r = await run.done;
  // A late kill point can come after the run has finished on a fast machine.
  if (r.signal !== "SIGKILL") expect(r.code, shown(r)).toBe(0);
}

/** Finds the stack a killed `up` left, through `list --json`. */
async function listed(member: string): Promise<string> {
  const rows = (await listStacks(stateDir)).filter((r) => r.member === member);
  expect(rows, `the stacks of ${member}`).toHaveLength(1);
  return rows[0]?.stackId as string;
}

async function view(id: string): Promise<StackStatusView> {
  const v = await statusFromStore(store, { team: TEAM, stackId: id });
  if (!v) throw new Error(`no stack ${id}`);
  return v;
}

/** The stack is exactly the template: every server ready, one sandbox, one holder and one lease per local server. */
async function expectConverged(v: StackStatusView): Promise<void> {
  expect(v.status, v.error ?? "").toBe("SUCCEEDED");
  expect(v.lock).toBeNull();
  expect(v.servers.map((s) => s.name)).toEqual([...SIM, ...LOCAL]);
  for (const s of v.servers) {
    expect(s.status, `${s.name}: ${s.error}`).toBe("SUCCEEDED");
    expect(s.artifacts.Id, s.name).toMatch(SIM.includes(s.name) ? /^sim-/ : /^local-/);
  }
  // The sim provider counts its creates per server; a create with a known token is not one.
  expect(Object.fromEntries(await simAttempts(stateDir, v.stackId)), "sim creates per server").toEqual(
    Object.fromEntries(SIM.map((n) => [n, 1])),
  );
  expect(await sandboxDirs(stateDir, v.stackId)).toEqual([...LOCAL].sort());
  const live = await liveSandboxes(stateDir, v.stackId);
  expect([...live.keys()].sort()).toEqual([...LOCAL].sort());
  for (const name of LOCAL) {
    expect(live.get(name)?.bwraps, name).toHaveLength(1);
    expect(live.get(name)?.holders, name).toEqual([await recordedHolder(stateDir, v.stackId, name)]);
  }
  expect(await leasesOf(stateDir, v.stackId)).toEqual(
    new Map(LOCAL.map((n) => [serverOf(v, n).artifacts.IP as string, n])),
  );
  const config = await readFile(
    join(stateDir, "sandboxes", v.stackId, "edge", "root", "etc", "config"),
    "utf8",
  );
  expect(config.trimEnd().split("\n")).toEqual([`a=${serverOf(v, "a").artifacts.IP}`]);
}

async function holdersOf(id: string): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  for (const name of LOCAL) out.set(name, await recordedHolder(stateDir, id, name));
  return out;
}

async function rerunJson(id: string): Promise<StackStatusView> {
  const r = await runCli(["rerun", id, "--json", "--state-dir", stateDir], RUN_MS);
  expect(r.code, shown(r)).toBe(0);
  return finalJson(r.stdout) as StackStatusView;
}

/**
 * `rerun` converges the stack a killed run left: it takes over a stale lock, keeps sandboxes that
 * were complete, and a second `rerun` creates nothing.
 */
async function expectRerunConverges(id: string): Promise<void> {
  const before = await view(id);
  const complete = [...(await holdersOf(id))].filter(([, pid]) => pid !== undefined);

  const first = await rerunJson(id);
  expect(first.run).toBe(Math.max(before.run, before.lock?.run ?? 0) + 1);
  await expectConverged(first);
  if (before.lock) {
    // The killed run's process is dead, so its lock is stale: the rerun took it over.
    const events = await store.listEvents({ team: TEAM, stackId: id });
    expect(events.filter((e) => e.type === "LockTakenOver").map((e) => e.message)).toContain(
      `run ${before.lock.run} (${before.lock.execution}) is no longer running; run ${first.run} takes over`,
    );
  }
  const holders = await holdersOf(id);
  for (const [name, pid] of complete) expect(holders.get(name), `${name} was complete before`).toBe(pid);

  const second = await rerunJson(id);
  expect(second.run).toBe(first.run + 1);
  await expectConverged(second);
  expect(second.servers.map((s) => [s.name, s.artifacts.Id, s.startedAt, s.readyAt])).toEqual(
    first.servers.map((s) => [s.name, s.artifacts.Id, s.startedAt, s.readyAt]),
  );
  expect(await holdersOf(id)).toEqual(holders);
}

/** Kills (by pid) and removes what a stack's sandboxes left behind, so that a bug does not leak past its test. */
async function removeLeftovers(id: string): Promise<void> {
  const dir = join(stateDir, "sandboxes", id);
  for (const p of await sandboxProcesses(dir)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  await until("the leftover sandbox processes to exit", async () =>
    (await sandboxProcesses(dir)).length === 0 ? true : undefined,
  );
  await rm(dir, { recursive: true, force: true });
  for (const address of (await leasesOf(stateDir, id)).keys()) {
    await rm(join(stateDir, "addresses", address), { force: true });
  }
}

interface KillPoint {
  readonly label: string;
  /** Resolves when `up` is where it should die; given the stack once recorded. */
  readonly reached: (id: string) => Promise<unknown>;
}

// Points seen on disk or in the store, the same on a fast and a slow machine.
const KILL_POINTS: readonly KillPoint[] = [
  { label: "as soon as the stack is recorded (before or in Prepare)", reached: async () => undefined },
  { label: "while lone's sandbox is being made, root booting", reached: (id) => sandboxStarted(id, "lone") },
  { label: "when the fan-out has started", reached: (id) => simStarted(id, 3) },
  {
    label: "while edge's sandbox (which waited for sim a) is being made",
    reached: (id) => sandboxStarted(id, "edge"),
  },
  { label: "once root is ready, the fan-out starting", reached: (id) => serverReady(id, "root") },
  { label: "once a is ready, b and edge starting", reached: (id) => serverReady(id, "a") },
];

describe.concurrent("Killing `teamstack up` with SIGKILL mid-run, then `teamstack rerun`", () => {
  it.each(KILL_POINTS.map((p, i) => ({ ...p, member: `kill${i}` })))(
    "converges to exactly the template's servers, none created twice, when killed $label",
    async ({ reached, member }) => {
      const up = startUp(templateFile, member);
      await reached(await recorded(up));
      await killed(up);
      await expectRerunConverges(await listed(member));
    },
    TEST_MS,
  );

  it(
    "converges when the rerun is killed too, the last run taking over the rerun's lock",
    async () => {
      const up = startUp(templateFile, "twice");
      const id = await recorded(up);
      await simStarted(id, 1);
      await killed(up);

      const rerun = startCli(["rerun", id, "--json", "--state-dir", stateDir], RUN_MS);
      // The rerun has taken the dead run's lock (the killed `up` may have made all three sim
      // servers already, so their count alone does not say the rerun is under way).
      await until(
        "the rerun to take the lock",
        async () => ((await view(id)).lock?.run === 2 ? true : undefined),
        RUN_MS,
      );
      await simStarted(id, 3);
      await killed(rerun);
      expect((await view(id)).lock).toMatchObject({
        run: 2,
        execution: expect.stringMatching(new RegExp(`^local:${rerun.child.pid}:`)),
      });
      await expectRerunConverges(id);
    },
    TEST_MS,
  );

  // The server record holds the idempotency token but no Id (the process died between the
  // provider's create and storing its artifacts): `down` must still find the sandbox by its token
  // and destroy it, its holder and its address lease.
  it(
    "destroys with `down` a sandbox whose create a SIGKILL cut short",
    async () => {
      const up = startUp(templateFile, "cutshort");
      const id = await recorded(up);
      await sandboxStarted(id, "lone");
      await killed(up);
      try {
        const r = await runCli(["down", id, "--state-dir", stateDir], RUN_MS);
        expect(r.code, shown(r)).toBe(0);
        expect((await view(id)).status).toBe("DESTROYED");
        expect(await liveSandboxes(stateDir, id)).toEqual(new Map());
        expect(await sandboxDirs(stateDir, id)).toEqual([]);
        expect(await leasesOf(stateDir, id)).toEqual(new Map());
      } finally {
        await removeLeftovers(id);
      }
    },
    TEST_MS,
  );
});

describe("Two `teamstack rerun`s of one stack at once", () => {
  it(
    "lets exactly one run, the other exiting 1 naming the running execution",
    async () => {
      const up = startUp(slowFile, "race");
      const id = await recorded(up);
      // Prepare has taken the lock once a server exists.
      await simStarted(id, 1);
      await killed(up);
      const stale = (await view(id)).lock;
      expect(stale?.run).toBe(1);

      const runs = [
        startCli(["rerun", id, "--state-dir", stateDir], RUN_MS),
        startCli(["rerun", id, "--state-dir", stateDir], RUN_MS),
      ];
      const results = await Promise.all(runs.map((r) => r.done));
      expect(results.map((r) => r.code).sort(), results.map(shown).join("\n")).toEqual([0, 1]);
      const winner = results[0]?.code === 0 ? 0 : 1;
      const won = results[winner];
      const lost = results[1 - winner];
      // Without --json the progress goes to stderr: the winner took over the killed run's lock.
      expect(won?.stderr).toContain(`run 1 (${stale?.execution}) is no longer running; run 2 takes over`);
      expect(lost?.stderr).toMatch(
        new RegExp(
          `^teamstack rerun: stack \`${id}\` is busy: run 2 \\(execution local:${runs[winner]?.child.pid}:\\d+:`,
          "m",
        ),
      );
      expect(lost?.stdout).toBe("");

      const after = await stackStatus(stateDir, id);
      expect(after).toMatchObject({ status: "SUCCEEDED", run: 2, lock: null });
      expect(Object.fromEntries(await simAttempts(stateDir, id))).toEqual({ s1: 1, s2: 1, s3: 1 });
    },
    TEST_MS,
  );
});
