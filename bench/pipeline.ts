// Benchmark: generated DAGs of sim servers through the real provision state machine, locally.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { plan } from "../src/core/graph.ts";
import { stopLocalStore } from "../src/local/dynamo.ts";
import { openLocalEngine } from "../src/local/engine.ts";
import { stackStatus } from "../src/pipeline/status.ts";
import { dagTemplate, generateDag } from "./generate.ts";
import { createBenchStack, makespanOf } from "./stacks.ts";

/** Task-function invocations (Lambda invocations in AWS) per server, in all and by function. */
export function taskCallsRow(calls: Readonly<Record<string, number>>, servers: number): string {
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const each = Object.entries(calls)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([fn, c]) => `${fn} ${c}`)
    .join(", ");
  return `${(total / servers).toFixed(2)} per server (${total} in all: ${each})`;
}

/** Step Functions Standard: $0.025 per 1,000 state transitions. */
const USD_PER_TRANSITION = 0.025 / 1000;

export async function benchPipeline(): Promise<Record<string, string>> {
  const rows: Record<string, string> = {};
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-bench-pipeline-"));
  const engine = await openLocalEngine({ stateDir });
  try {
    for (const [label, n, maxDeps, minBoot, maxBoot] of [
      ["10 servers", 10, 3, 500, 2000],
      ["100 servers", 100, 3, 500, 2000],
      ["1000 servers", 1000, 3, 2000, 6000],
      [
        "100 independent servers, 1 s boot each (Terraform's default parallelism of 10: 10 s)",
        100,
        0,
        1000,
        1000,
      ],
    ] as const) {
      const dag = generateDag(n, { seed: n + maxDeps, maxDeps, minBootMs: minBoot, maxBootMs: maxBoot });
      const yaml = dagTemplate(dag);
      const boot = new Map(dag.map((s) => [s.name, s.bootMs]));
      const p = plan(
        dag.map((s) => ({ name: s.name, dependsOn: s.deps })),
        (name) => boot.get(name) ?? 0,
      );
      const criticalMs = p.criticalPath.reduce((sum, name) => sum + (boot.get(name) ?? 0), 0);
      const key = { team: "bench", stackId: `dag-${n}-${maxDeps}` };
      await createBenchStack(engine.store, key, yaml, `dag-${n}.yaml`);
      const t0 = Date.now();
      const outcome = await engine.provision(key);
      const wall = Date.now() - t0;
      if (outcome.status !== "SUCCEEDED") throw new Error(`dag-${n} failed: ${outcome.cause}`);
      const view = await stackStatus(engine.store, key);
      const makespan = makespanOf(view);
      const perServer = outcome.transitions / n;
      rows[`${label}: makespan / critical path`] =
        `${(makespan / 1000).toFixed(2)} s / ${(criticalMs / 1000).toFixed(2)} s = ${(makespan / criticalMs).toFixed(3)}${maxDeps > 0 ? " (goal ≤ 1.05)" : ""}; whole run ${(wall / 1000).toFixed(2)} s, ${p.levels.length} level${p.levels.length === 1 ? "" : "s"}`;
      rows[`${label}: state transitions`] =
        `${outcome.transitions} (${perServer.toFixed(2)} per server); $${(outcome.transitions * USD_PER_TRANSITION).toFixed(4)} per stack on Standard`;
      rows[`${label}: task-function calls`] = taskCallsRow(outcome.taskCalls, n);
      rows[`${label}: execution history`] =
        `${outcome.history.events} events in the execution's own, ${outcome.history.children} Distributed Map children of at most ${outcome.history.largestChild} (limit 25,000 each)`;
    }
  } finally {
    await engine.close();
    await stopLocalStore(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
