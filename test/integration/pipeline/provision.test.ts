import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { stackStatus } from "../../../src/pipeline/status.ts";
import type { StackKey } from "../../../src/ports/store.ts";

// The real ASL files through aws-local-stepfunctions, the real task functions, dynalite.
let stateDir: string;
let engine: LocalEngine;
let n = 0;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-pipeline-"));
  engine = await openLocalEngine({ stateDir });
});

afterAll(async () => {
  await engine.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

async function newStack(yaml: string, simulate = false): Promise<StackKey> {
  const stackId = `t${++n}-${Date.now().toString(36)}`;
  const now = new Date().toISOString();
  await engine.store.createStack({
    team: "test",
    stackId,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "test.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: { github_username: "alice" },
    simulate: simulate ? ["aws", "local", "sim"] : [],
    createdAt: now,
    startedAt: now,
  });
  return { team: "test", stackId };
}

function sim(name: string, extra = ""): string {
  return `  - name: ${name}\n    provider: sim\n    type: t3.micro\n${extra}`;
}

async function status(key: StackKey) {
  const view = await stackStatus(engine.store, key);
  if (!view) throw new Error("no stack");
  return view;
}

/** Resolves once a run holds the stack's lock (Prepare has taken it). */
async function lockTaken(key: StackKey): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await engine.store.getStack(key))?.lock) {
    if (Date.now() > deadline) throw new Error(`no run took the lock of ${key.stackId} in 20 s`);
    await new Promise((r) => setImmediate(r));
  }
}

const byName = (view: Awaited<ReturnType<typeof status>>) => new Map(view.servers.map((s) => [s.name, s]));

describe("the provision state machine on the local runtime", () => {
  it("creates a diamond in dependency order and stores every artifact", async () => {
    const key = await newStack(
      [
        "servers:",
        sim("db", "    options: { boot_ms: 30 }\n"),
        sim("api", '    user_data: "echo $servers.db.IP"\n    options: { boot_ms: 20 }\n'),
        sim("worker", "    depends_on: [db]\n"),
        sim("web", '    user_data: "curl $servers.api.IP $servers.worker.IP"\n'),
        "post_hooks:",
        "  - run_script: { target_server: web, script: 'echo $koding.artifact.web.IP $koding.artifact.stackId' }",
      ].join("\n"),
    );
    const outcome = await engine.provision(key);
    expect(outcome.status).toBe("SUCCEEDED");
    const view = await status(key);
    expect(view.status).toBe("SUCCEEDED");
    const s = byName(view);
    for (const [dependent, dep] of [
      ["api", "db"],
      ["worker", "db"],
      ["web", "api"],
      ["web", "worker"],
    ] as const) {
      expect(Date.parse(s.get(dependent)?.startedAt as string)).toBeGreaterThanOrEqual(
        Date.parse(s.get(dep)?.readyAt as string),
      );
    }
    for (const server of view.servers) {
      expect(server.status).toBe("SUCCEEDED");
      expect(server.artifacts.Id).toMatch(/^sim-/);
      expect(server.artifacts.IP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(view.hooks).toEqual([
      expect.objectContaining({ phase: "post", index: 0, status: "SUCCEEDED", exitCode: 0 }),
    ]);
    expect(view.artifacts.stackId).toBe(key.stackId);
    expect(view.lock).toBeNull();
  });

  it("fails only the failing server and its dependents, naming the cause, and finishes the rest", async () => {
    const key = await newStack(
      [
        "servers:",
        sim("bad", "    options: { fail: true }\n"),
        sim("child", "    depends_on: [bad]\n"),
        sim("grandchild", "    depends_on: [child]\n"),
        sim("independent", "    options: { boot_ms: 20 }\n"),
      ].join("\n"),
    );
    const outcome = await engine.provision(key);
    expect(outcome.status).toBe("FAILED");
    const view = await status(key);
    expect(view.status).toBe("FAILED");
    const s = byName(view);
    expect(s.get("bad")?.status).toBe("FAILED");
    expect(s.get("child")?.status).toBe("SKIPPED");
    expect(s.get("child")?.error).toContain("`bad`");
    expect(s.get("grandchild")?.status).toBe("SKIPPED");
    expect(s.get("grandchild")?.error).toContain("`child`");
    expect(s.get("independent")?.status).toBe("SUCCEEDED");
    expect(view.error).toContain("bad");
    expect(view.lock).toBeNull();
  });

  it("reruns a failed stack creating only what is missing, and a succeeded one creating nothing", async () => {
    const key = await newStack(
      ["servers:", sim("base"), sim("flaky", "    depends_on: [base]\n    options: { fail: once }\n")].join(
        "\n",
      ),
    );
    expect((await engine.provision(key)).status).toBe("FAILED");
    const first = byName(await status(key));
    expect(first.get("base")?.status).toBe("SUCCEEDED");
    expect(first.get("flaky")?.status).toBe("FAILED");

    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const second = byName(await status(key));
    expect(second.get("base")?.artifacts.Id).toBe(first.get("base")?.artifacts.Id);
    expect(second.get("base")?.readyAt).toBe(first.get("base")?.readyAt);
    expect(second.get("flaky")?.status).toBe("SUCCEEDED");

    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const third = await status(key);
    expect(third.run).toBe(3);
    for (const s of third.servers) {
      expect(s.artifacts.Id).toBe(second.get(s.name)?.artifacts.Id);
      expect(s.readyAt).toBe(second.get(s.name)?.readyAt);
    }
  });

  it("rolls back what a failed run created when on_failure is rollback", async () => {
    const key = await newStack(
      [
        "settings: { on_failure: rollback }",
        "servers:",
        sim("ok"),
        sim("bad", "    options: { fail: true }\n"),
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("FAILED");
    const s = byName(await status(key));
    expect(s.get("ok")?.status).toBe("DESTROYED");
    expect(s.get("bad")?.status).toBe("DESTROYED");
  });

  it("runs again on a rerun every hook that did not succeed, in order, and none that did", async () => {
    const key = await newStack(
      [
        "servers:",
        sim("a"),
        "pre_hooks:",
        "  - slack_msg: { channel: ops, msg: starting }",
        "post_hooks:",
        "  - run_script: { target_server: a, script: 'echo once' }",
        "  - webhook: { url: 'https://ci.example.com/hook', secret: not_set, continue_on_error: true }",
        "  - slack_msg: { channel: ops, msg: done }",
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const hooks = (await status(key)).hooks.map((h) => `${h.phase}:${h.index} ${h.status}`);
    expect(hooks).toEqual(["pre:0 SKIPPED", "post:0 SUCCEEDED", "post:1 FAILED", "post:2 SKIPPED"]);
    const before = (await engine.store.listEvents(key)).length;

    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const again = (await engine.store.listEvents(key))
      .slice(before)
      .filter((e) => e.type === "HookFinished")
      .map((e) => e.message.split(":")[0]);
    expect(again).toEqual(["pre_hooks[0] slack_msg", "post_hooks[1] webhook", "post_hooks[2] slack_msg"]);
    const rerun = await engine.store.listHooks(key);
    expect(rerun.map((h) => `${h.phase}:${h.index} ${h.run}`).sort()).toEqual([
      "post:0 1",
      "post:1 2",
      "post:2 2",
      "pre:0 2",
    ]);
  });

  it("refuses a second concurrent run, naming the running one", async () => {
    const key = await newStack(["servers:", sim("slow", "    options: { boot_ms: 400 }\n")].join("\n"));
    const first = engine.provision(key);
    await lockTaken(key);
    const second = await engine.provision(key);
    expect(second).toMatchObject({ status: "FAILED", error: "StackLockedError" });
    expect(second.status === "FAILED" ? second.cause : "").toMatch(/is busy: run 1 \(execution local:/);
    expect((await first).status).toBe("SUCCEEDED");
    expect((await status(key)).run).toBe(1);
  });

  it("runs more than 40 servers at once when max_parallel allows", async () => {
    const servers = Array.from({ length: 60 }, (_, i) => sim(`s${i}`, "    options: { boot_ms: 300 }\n"));
    const key = await newStack(["settings: { max_parallel: 100 }", "servers:", ...servers].join("\n"));
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const view = await status(key);
    const starts = view.servers.map((s) => Date.parse(s.startedAt as string));
    const ends = view.servers.map((s) => Date.parse(s.readyAt as string));
    const overlap = Math.max(
      ...starts.map((t) => starts.filter((x) => x <= t).length - ends.filter((x) => x <= t).length),
    );
    expect(overlap).toBeGreaterThan(40);
  });

  it("keeps to max_parallel and never deadlocks on a chain with max_parallel 1", async () => {
    const servers = [
      "servers:",
      sim("a"),
      sim("b", "    depends_on: [a]\n"),
      sim("c", "    depends_on: [b]\n"),
      sim("d"),
    ];
    const key = await newStack(["settings: { max_parallel: 1 }", ...servers].join("\n"));
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
  });

  it("destroys a stack, dependents first", async () => {
    const key = await newStack(["servers:", sim("a"), sim("b", "    depends_on: [a]\n")].join("\n"));
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    expect((await engine.destroy(key)).status).toBe("SUCCEEDED");
    const view = await status(key);
    expect(view.status).toBe("DESTROYED");
    for (const s of view.servers) expect(s.status).toBe("DESTROYED");
  });

  it("runs every server on sim when simulated", async () => {
    const key = await newStack(
      ["servers:", "  - { name: cloud, provider: aws, type: t3.micro }"].join("\n"),
      true,
    );
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    expect((await status(key)).servers[0]?.provider).toBe("sim");
  });

  it("fails a server that is not ready within server_timeout", async () => {
    const key = await newStack(
      [
        "settings: { server_timeout: 1s }",
        "servers:",
        sim("slow", "    options: { boot_ms: 5000 }\n"),
        sim("quick"),
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("FAILED");
    const s = byName(await status(key));
    expect(s.get("slow")).toMatchObject({
      status: "FAILED",
      error: "did not become ready within server_timeout",
    });
    expect(s.get("quick")?.status).toBe("SUCCEEDED");
  });

  it("fails a local server whose user_data exits non-zero, with its exit code and output", async () => {
    const key = await newStack(
      [
        "servers:",
        "  - name: box",
        "    provider: local",
        "    type: sandbox",
        "    user_data: |",
        "      echo preparing on $TEAMSTACK_SERVER",
        "      exit 3",
      ].join("\n"),
    );
    try {
      expect((await engine.provision(key)).status).toBe("FAILED");
      const box = byName(await status(key)).get("box");
      expect(box?.status).toBe("FAILED");
      expect(box?.error).toContain("exit code 3");
      expect(box?.error).toContain("preparing on box");
    } finally {
      await engine.destroy(key);
    }
  });

  it("stops at a failing hook unless it says continue_on_error", async () => {
    const hook = (extra: string) =>
      [
        "servers:",
        "  - { name: box, provider: local, type: sandbox }",
        "post_hooks:",
        `  - run_script: { target_server: box, script: 'echo out; exit 4'${extra} }`,
        "  - run_script: { target_server: box, script: 'echo second' }",
      ].join("\n");
    const stopped = await newStack(hook(""));
    const continued = await newStack(hook(", continue_on_error: true"));
    try {
      expect((await engine.provision(stopped)).status).toBe("FAILED");
      const a = await status(stopped);
      // Prepare records every hook of the run: the one after the failure never ran.
      expect(a.hooks).toEqual([
        expect.objectContaining({ index: 0, status: "FAILED", exitCode: 4, output: "out\n" }),
        expect.objectContaining({ index: 1, status: "PENDING", output: null, exitCode: null }),
      ]);
      expect(a.error).toContain("post_hooks[0] run_script failed");

      expect((await engine.provision(continued)).status).toBe("SUCCEEDED");
      const b = await status(continued);
      expect(b.hooks.map((h) => [h.index, h.status])).toEqual([
        [0, "FAILED"],
        [1, "SUCCEEDED"],
      ]);
    } finally {
      await engine.destroy(stopped);
      await engine.destroy(continued);
    }
  });

  it("reconciles a console Start execution with a previous input: nothing is created twice", async () => {
    const key = await newStack(["servers:", sim("a"), sim("b", "    depends_on: [a]\n")].join("\n"));
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const before = byName(await status(key));
    // The execution input is {team, stackId}: a new execution with it is a rerun.
    const again = await engine.provision({ team: key.team, stackId: key.stackId });
    expect(again.status).toBe("SUCCEEDED");
    const after = await status(key);
    expect(after.run).toBe(2);
    for (const s of after.servers) {
      expect(s.artifacts.Id).toBe(before.get(s.name)?.artifacts.Id);
      expect(s.readyAt).toBe(before.get(s.name)?.readyAt);
    }
  });

  it("resumes a failed execution on a console Redrive: same execution, a new run, only what is missing", async () => {
    const key = await newStack(
      ["servers:", sim("good"), sim("flaky", "    options: { fail: once }\n")].join("\n"),
    );
    const first = await engine.provision(key);
    expect(first).toMatchObject({ status: "FAILED", error: "StackFailedError" });
    expect(first.status === "FAILED" ? first.cause : "").toMatch(
      /^ServersFailedError: 1 server not ready: flaky/,
    );
    const failed = byName(await status(key));

    const redriven = await engine.redrive(first.execution);
    expect(redriven).toMatchObject({ status: "SUCCEEDED", execution: first.execution });
    const view = await status(key);
    expect(view).toMatchObject({ status: "SUCCEEDED", run: 2, lock: null });
    const s = byName(view);
    expect(s.get("good")?.artifacts.Id).toBe(failed.get("good")?.artifacts.Id);
    expect(s.get("good")?.readyAt).toBe(failed.get("good")?.readyAt);
    expect(s.get("flaky")?.status).toBe("SUCCEEDED");
    // A redrive of an execution that did not fail has nothing to resume.
    await expect(engine.redrive(redriven.execution)).rejects.toThrow(/nothing to redrive/);
  });

  it("stops at a failed pre-hook before any server is created, with the hook's message in the status", async () => {
    const key = await newStack(
      [
        "pre_hooks:",
        "  - webhook: { url: 'http://127.0.0.1:9/hook', secret: ci_signing_key }",
        "servers:",
        sim("never"),
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("FAILED");
    const view = await status(key);
    expect(view.servers).toEqual([
      expect.objectContaining({ name: "never", status: "PENDING", startedAt: null }),
    ]);
    expect(view.hooks).toEqual([expect.objectContaining({ phase: "pre", index: 0, status: "FAILED" })]);
    expect(view.hooks[0]?.error).toContain("ci_signing_key");
    expect(view.error).toContain("pre_hooks[0] webhook failed");
  });
});
