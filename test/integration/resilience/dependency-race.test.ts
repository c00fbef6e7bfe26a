import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadMachine, runMachine, TokenRegistry } from "../../../src/local/asl-runner.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import type { StackKey } from "../../../src/ports/store.ts";

// A dependency that fails while its dependent is still parking its wait token: MarkServerFailed
// settles the dependent's token while WaitForDependencies is still writing its "waits for" event.
// The settlement must not be a rejected promise nobody listens to yet (Node ends the process on
// one: the bug that took `teamstack serve` down for every team).

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled = [];
  process.on("unhandledRejection", onUnhandled);
});
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
});

/** One waitForTaskToken task, caught into a Fail state: the shape of WaitForDependencies. */
const oneWait = (timeoutSeconds: number) => ({
  StartAt: "Wait",
  States: {
    Wait: {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an ASL placeholder
      Parameters: { FunctionName: "${WaitFunctionArn}", Payload: { "token.$": "$$.Task.Token" } },
      TimeoutSeconds: timeoutSeconds,
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Skipped" }],
      End: true,
    },
    Skipped: { Type: "Fail", ErrorPath: "$.error.Error", CausePath: "$.error.Cause" },
  },
});

describe("a wait token settled while its task function still runs", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-race-asl-"));
    await writeFile(join(dir, "wait.asl.json"), JSON.stringify(oneWait(60)));
    await writeFile(join(dir, "wait-1s.asl.json"), JSON.stringify(oneWait(1)));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails the task with the settled error and leaves no rejection unhandled", async () => {
    const tokens = new TokenRegistry();
    const { outcome } = await runMachine(
      loadMachine(join(dir, "wait.asl.json")),
      {},
      {
        executionId: "race",
        tokens,
        functions: {
          // Another task fails the token, then this function does more I/O before it returns.
          Wait: async (payload) => {
            tokens.sendFailure(payload.token as string, "DependencyFailedError", "skipped: dependency `r`");
            await new Promise((resolve) => setImmediate(resolve));
          },
        },
      },
    );
    expect(outcome).toMatchObject({
      status: "FAILED",
      error: "DependencyFailedError",
      cause: "skipped: dependency `r`",
    });
    // Unhandled rejections are reported after the macrotask in which they happen: wait for one.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    expect(tokens.size).toBe(0);
  });

  it("forgets a token whose execution ended without it (a timeout), so a hung wait holds nothing", async () => {
    const tokens = new TokenRegistry();
    const machine = loadMachine(join(dir, "wait-1s.asl.json"));
    const { outcome } = await runMachine(
      machine,
      {},
      {
        executionId: "hung",
        tokens,
        functions: { Wait: async () => undefined },
      },
    );
    expect(outcome).toMatchObject({ status: "FAILED", error: "States.Timeout" });
    expect(tokens.size).toBe(0);
  });
});

describe("dependencies failing as their dependents park, through the real provision machine", () => {
  let stateDir: string;
  let engine: LocalEngine;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "teamstack-race-"));
    engine = await openLocalEngine({ stateDir });
  });
  afterAll(async () => {
    await engine?.close();
    await stopLocalStore(stateDir);
    await rm(stateDir, { recursive: true, force: true });
  });

  /**
   * With max_parallel 2, `d` starts when `x` is ready, and `x` is ready about when `r` fails:
   * offsets of a few milliseconds either way put d's WaitForDependencies across r's failure.
   */
  function template(offsetMs: number): string {
    return [
      "settings: { max_parallel: 2 }",
      "servers:",
      "  - { name: r, provider: sim, type: t3.micro, options: { fail: true, boot_ms: 120 } }",
      `  - { name: x, provider: sim, type: t3.micro, options: { boot_ms: ${100 + offsetMs} } }`,
      "  - { name: d, provider: sim, type: t3.micro, depends_on: [r] }",
    ].join("\n");
  }

  async function newStack(stackId: string, yaml: string): Promise<StackKey> {
    const now = new Date().toISOString();
    await engine.store.createStack({
      team: "race",
      stackId,
      member: "m",
      status: "RUNNING",
      run: 0,
      templateYaml: yaml,
      templateFile: "race.yaml",
      templateHash: createHash("sha256").update(yaml).digest("hex"),
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
    });
    return { team: "race", stackId };
  }

  /** Whether d parked its token (it wrote "waits for r") only after r had failed: the race window. */
  async function parkedAcrossFailure(key: StackKey): Promise<boolean> {
    const events = await engine.store.listEvents(key);
    const failed = events.find((e) => e.type === "ServerFailed" && e.server === "r");
    const waiting = events.find((e) => e.type === "ServerWaiting" && e.server === "d");
    return failed !== undefined && waiting !== undefined && waiting.seq > failed.seq;
  }

  it("skips every dependent, never leaving a rejection unhandled, across 80 runs", async () => {
    let windows = 0;
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const key = await newStack(`s${round}-${i}`, template(i));
          const outcome = await engine.provision(key);
          expect(outcome.status).toBe("FAILED");
          const servers = new Map((await engine.store.listServers(key)).map((s) => [s.name, s]));
          expect(servers.get("r")?.status).toBe("FAILED");
          expect(servers.get("d")?.status).toBe("SKIPPED");
          expect(servers.get("d")?.error).toBe("skipped: dependency `r` did not become ready");
          if (await parkedAcrossFailure(key)) windows++;
        }),
      );
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    // The test reached the window it is about at least once (on this machine, a few times a round).
    expect(windows).toBeGreaterThan(0);
  }, 120_000);
});
