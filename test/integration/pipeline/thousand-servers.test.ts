import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import type { StackKey } from "../../../src/ports/store.ts";

// AWS's limits at 1,000 servers on the local runtime, which enforces them (src/local/limits.ts).
let stateDir: string;
let engine: LocalEngine;
const logged: string[] = [];

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-thousand-"));
  engine = await openLocalEngine({ stateDir, log: (line) => logged.push(line) });
});

afterAll(async () => {
  await engine?.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

/** `n` independent sim servers; every `every`-th fails, printing `failBytes` of output. */
function template(n: number, failBytes: number, every = 5): string {
  const lines = ["settings: { max_parallel: 1000 }", "servers:"];
  for (let i = 0; i < n; i++) {
    lines.push(`  - name: s${i}`, "    provider: sim", "    type: t3.micro");
    if (i % every === 0) lines.push(`    options: { fail: true, fail_output_bytes: ${failBytes} }`);
  }
  return `${lines.join("\n")}\n`;
}

async function newStack(on: LocalEngine, stackId: string, yaml: string): Promise<StackKey> {
  const key = { team: "scale", stackId };
  const now = new Date().toISOString();
  await on.store.createStack({
    ...key,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "thousand.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  return key;
}

const big = { team: "scale", stackId: "thousand" };
/** 1,000 servers take about half a minute alone on 2 cores; room for a machine busy with more. */
const SCALE_TIMEOUT_MS = 180_000;

describe("AWS's limits at 1,000 servers", () => {
  it(
    "ends a 1,000-server stack with a fifth failing on long messages FAILED through OnFailure: lock released, Stack Failed sent",
    async () => {
      await newStack(engine, big.stackId, template(1000, 4000));
      const outcome = await engine.provision(big);
      expect(outcome.status).toBe("FAILED");
      if (outcome.status !== "FAILED") return;
      // RunFailed ends the execution after OnFailure: not a failure past it.
      expect(outcome.error).toBe("StackFailedError");
      expect(outcome.endedOutsideOnFailure).toBeUndefined();
      const stack = await engine.store.getStack(big);
      expect(stack?.status).toBe("FAILED");
      expect(stack?.lock).toBeUndefined();
      expect(stack?.error).toMatch(/^200 servers not ready: s0 \(FAILED: user_data failed on s0/);
      // Bounded whatever the number of failures: 20 reasons, then the rest by name only.
      expect(stack?.error?.length).toBeLessThan(20 * 400 + 200 * 8);
      expect(stack?.error).toMatch(/; and s\d+(, s\d+){179}$/);
      const events = await engine.store.listEvents(big);
      expect(events.filter((e) => e.type === "StackFailed")).toHaveLength(1);
      expect(events.filter((e) => e.type === "ServerFailed")).toHaveLength(200);
      expect(events.filter((e) => e.type === "ServerReady")).toHaveLength(800);
      const sent = (await engine.store.listOutboundEvents(big.team)).filter(
        (e) => e.detailType === "Stack Failed" && e.detail.stackId === big.stackId,
      );
      expect(sent).toHaveLength(1);
      // Each server's events are in its own child history; the parent's stays small.
      expect(outcome.history.children).toBe(1000);
      expect(outcome.history.events).toBeLessThan(100);
      expect(outcome.history.largestChild).toBeLessThan(30);
    },
    SCALE_TIMEOUT_MS,
  );

  it(
    "destroys the 1,000 servers with one bounded history",
    async () => {
      const outcome = await engine.destroy(big);
      expect(outcome.status, outcome.status === "FAILED" ? outcome.cause : "").toBe("SUCCEEDED");
      expect(outcome.history.children).toBe(1000);
      expect(outcome.history.events).toBeLessThan(100);
      expect(outcome.history.largestChild).toBeLessThan(30);
      const servers = await engine.store.listServers(big);
      expect(servers.filter((s) => s.status !== "DESTROYED")).toEqual([]);
      expect((await engine.store.getStack(big))?.status).toBe("DESTROYED");
    },
    SCALE_TIMEOUT_MS,
  );

  it("fails with States.DataLimitExceeded past OnFailure when the Servers Map returns every iteration's input (the shape before the fix), and the engine cleans up", async () => {
    // The provision machine as it was: iterations end with their input, error text included.
    const asl = JSON.parse(
      readFileSync(new URL("../../../statemachines/provision.asl.json", import.meta.url), "utf8"),
    );
    const inner = asl.States.Servers.ItemProcessor.States;
    delete inner.PublishArtifacts.OutputPath;
    delete inner.MarkServerFailed.OutputPath;
    const file = join(stateDir, "provision-unbounded.asl.json");
    writeFileSync(file, JSON.stringify(asl));
    const before = await openLocalEngine({
      stateDir,
      machines: { provision: file },
      log: (l) => logged.push(l),
    });
    try {
      // 150 servers, all failing with 2 KB of output: about 2.3 KB per iteration, 340 KB in all.
      const key = await newStack(before, "unbounded", template(150, 2000, 1));
      const outcome = await before.provision(key);
      expect(outcome.status).toBe("FAILED");
      if (outcome.status !== "FAILED") return;
      expect(outcome.error).toBe("States.DataLimitExceeded");
      expect(outcome.cause).toMatch(
        /^the result of Map state `Servers` is [\d,]+ bytes; Step Functions allows 262,144/,
      );
      expect(outcome.endedOutsideOnFailure).toBe(true);
      expect(
        logged.some((l) => l.includes("failed outside its OnFailure state with States.DataLimitExceeded")),
      ).toBe(true);
      // What AWS would leave RUNNING and locked for ever, the local engine marks and unlocks.
      const stack = await before.store.getStack(key);
      expect(stack?.status).toBe("FAILED");
      expect(stack?.lock).toBeUndefined();
      expect(stack?.error).toMatch(
        /^the execution failed outside its OnFailure state: States\.DataLimitExceeded: /,
      );
      const sent = (await before.store.listOutboundEvents(key.team)).filter(
        (e) => e.detailType === "Stack Failed" && e.detail.stackId === key.stackId,
      );
      expect(sent).toHaveLength(1);

      // The same stack through the real machine fails through OnFailure instead.
      const after = await engine.provision(key);
      expect(after.status === "FAILED" && after.error).toBe("StackFailedError");
      expect(after.endedOutsideOnFailure).toBeUndefined();
    } finally {
      await before.close();
    }
  }, 60_000);
});
