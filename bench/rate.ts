// Benchmark: stacks started at once against an account-wide create limit (the table's rate budget).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopLocalStore } from "../src/local/dynamo.ts";
import { openLocalEngine } from "../src/local/engine.ts";
import type { RateLimit } from "../src/ports/rate-budget.ts";
import { listSimCreations } from "../src/providers/sim/sim-provider.ts";
import { dagTemplate, generateDag } from "./generate.ts";
import { taskCallsRow } from "./pipeline.ts";
import { createBenchStack } from "./stacks.ts";

/** EC2's RunInstances limit, modelled on sim with `create_rate` and `create_burst`. */
const LIMIT: RateLimit = { burst: 5, perSecond: 2 };
const STACKS = 10;
const SERVERS = 100;

/**
 * The most creates any window of the times holds, against what the limit allows in it (the burst,
 * and the rate over the window's length): at most 1 when they keep to the limit.
 */
export function busiestWindow(
  times: readonly number[],
  limit: RateLimit,
): { count: number; allowed: number } {
  const t = [...times].sort((a, b) => a - b);
  let worst = { count: 0, allowed: 1 };
  for (let i = 0; i < t.length; i++) {
    for (let j = i; j < t.length; j++) {
      const allowed = limit.burst + (limit.perSecond * ((t[j] as number) - (t[i] as number))) / 1000;
      const count = j - i + 1;
      if (count / allowed > worst.count / worst.allowed) worst = { count, allowed };
    }
  }
  return worst;
}

export async function benchCreateRate(): Promise<Record<string, string>> {
  const rows: Record<string, string> = {};
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-bench-rate-"));
  const engine = await openLocalEngine({ stateDir });
  try {
    const keys = [];
    for (let i = 0; i < STACKS; i++) {
      const dag = generateDag(SERVERS, { seed: 1000 + i, maxDeps: 3, minBootMs: 500, maxBootMs: 2000 });
      // Default max_parallel (40): ten stacks keep 400 creates in flight at most.
      const yaml = dagTemplate(dag, {
        options: `create_rate: ${LIMIT.perSecond}, create_burst: ${LIMIT.burst}`,
        maxParallel: 40,
      });
      const key = { team: "bench", stackId: `rate-${i}` };
      await createBenchStack(engine.store, key, yaml, `rate-${i}.yaml`, `m${i}`);
      keys.push(key);
    }
    const t0 = Date.now();
    const outcomes = await Promise.all(keys.map((k) => engine.provision(k)));
    const wall = Date.now() - t0;
    const failed = outcomes.filter((o) => o.status !== "SUCCEEDED");
    if (failed.length > 0)
      throw new Error(
        `${failed.length} stacks failed: ${failed.map((o) => (o.status === "FAILED" ? o.cause : "")).join("; ")}`,
      );
    const times = (await listSimCreations(stateDir)).map((c) => c.createdAt).sort((a, b) => a - b);
    const n = times.length;
    const span = ((times.at(-1) as number) - (times[0] as number)) / 1000;
    // After the burst, creates can come no faster than the rate: the share of it they reached.
    const share = (n - LIMIT.burst) / (LIMIT.perSecond * span);
    const worst = busiestWindow(times, LIMIT);
    const calls: Record<string, number> = {};
    for (const o of outcomes)
      for (const [fn, c] of Object.entries(o.taskCalls)) calls[fn] = (calls[fn] ?? 0) + c;
    rows[`${STACKS} stacks of ${SERVERS} servers at once, burst ${LIMIT.burst} then ${LIMIT.perSecond}/s`] =
      `${n} creates in ${span.toFixed(1)} s (all stacks done in ${(wall / 1000).toFixed(1)} s)`;
    rows["creation rate achieved / limit"] =
      `${((n - LIMIT.burst) / span).toFixed(3)}/s of ${LIMIT.perSecond}/s after the burst = **${(share * 100).toFixed(1)}%** (goal ≥ 90%, never above 100%)`;
    rows["busiest window of create times"] =
      `${worst.count} creates where the limit allows ${worst.allowed.toFixed(2)}: ${((worst.count / worst.allowed) * 100).toFixed(1)}% of it`;
    rows["task-function calls (throttled creates retried)"] = taskCallsRow(calls, n);
  } finally {
    await engine.close();
    await stopLocalStore(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
