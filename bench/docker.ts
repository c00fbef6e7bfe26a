// Benchmark: a 20-server DAG of containers on a Docker-compatible engine, through the real
// provision state machine, locally. The engine is a Podman service started as the tests start it
// (test/support/podman.ts, with its cached busybox image); without podman, runc and
// busybox-static the section says so and is skipped.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { plan } from "../src/core/graph.ts";
import { stopLocalStore } from "../src/local/dynamo.ts";
import { openLocalEngine } from "../src/local/engine.ts";
import { stackStatus } from "../src/pipeline/status.ts";
import { type PodmanService, podmanMissing, startPodman } from "../test/support/podman.ts";
import { generateDag } from "./generate.ts";
import { createBenchStack, makespanOf } from "./stacks.ts";

const N = 20;

/** The DAG's template on containers: each server sleeps its boot time; half its dependencies by reference. */
function dockerDagTemplate(servers: ReturnType<typeof generateDag>): string {
  const lines = ["settings:", "  max_parallel: 100", "servers:"];
  for (const s of servers) {
    lines.push(`  - name: ${s.name}`, "    provider: docker", "    type: 1cpu/128mb-ram");
    const refs = s.deps.filter((_, i) => i % 2 === 0);
    const after = s.deps.filter((_, i) => i % 2 === 1);
    if (after.length > 0) lines.push(`    depends_on: [${after.join(", ")}]`);
    lines.push("    user_data: |", `      sleep ${(s.bootMs / 1000).toFixed(3)}`);
    for (const r of refs) lines.push(`      echo "$servers.${r}.IP ${r}" >> /etc/hosts`);
  }
  return `${lines.join("\n")}\n`;
}

export async function benchDocker(): Promise<Record<string, string>> {
  let podman: PodmanService | undefined;
  const why = await podmanMissing().catch((err: unknown) => (err as Error).message);
  if (why) return { skipped: `no Docker-compatible engine to run on: ${why}` };
  podman = await startPodman();
  const saved = { ...process.env };
  Object.assign(process.env, podman.env);
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-bench-docker-"));
  const engine = await openLocalEngine({ stateDir });
  const rows: Record<string, string> = {};
  try {
    const dag = generateDag(N, { seed: 20, maxDeps: 3, minBootMs: 500, maxBootMs: 2000 });
    const yaml = dockerDagTemplate(dag);
    const key = { team: "bench", stackId: "docker-dag-20" };
    await createBenchStack(engine.store, key, yaml, "docker-dag-20.yaml");
    const t0 = Date.now();
    const outcome = await engine.provision(key);
    const wall = Date.now() - t0;
    if (outcome.status !== "SUCCEEDED") throw new Error(`docker-dag-20 failed: ${outcome.cause}`);
    const view = await stackStatus(engine.store, key);
    const servers = view?.servers ?? [];
    const took = new Map(
      servers.map((s) => [s.name, Date.parse(s.readyAt ?? "") - Date.parse(s.startedAt ?? "")]),
    );
    const makespan = makespanOf(view);
    const p = plan(
      dag.map((s) => ({ name: s.name, dependsOn: s.deps })),
      (name) => took.get(name) ?? 0,
    );
    const criticalMs = p.criticalPath.reduce((sum, name) => sum + (took.get(name) ?? 0), 0);
    const sleepMs = p.criticalPath.reduce(
      (sum, name) => sum + (dag.find((s) => s.name === name)?.bootMs ?? 0),
      0,
    );
    const each = dag.map((s) => (took.get(s.name) ?? 0) - s.bootMs).sort((a, b) => a - b);
    rows[`${N} containers (DAG, ${p.levels.length} levels): makespan / critical path`] =
      `${(makespan / 1000).toFixed(2)} s / ${(criticalMs / 1000).toFixed(2)} s = ${(makespan / criticalMs).toFixed(3)} (goal ≤ 1.10); whole run ${(wall / 1000).toFixed(2)} s`;
    rows[`${N} containers: critical path`] =
      `${p.criticalPath.length} servers; each server's own time is its create (container, network, user_data's start) to its user_data's exit; of the ${(criticalMs / 1000).toFixed(2)} s, ${(sleepMs / 1000).toFixed(2)} s is user_data's sleep`;
    rows[`${N} containers: a server's time beyond its user_data`] =
      `median ${((each[Math.floor(each.length / 2)] ?? 0) / 1000).toFixed(2)} s, max ${((each.at(-1) ?? 0) / 1000).toFixed(2)} s (create, start, exec, readiness follow)`;
    const down = await engine.destroy(key);
    if (down.status !== "SUCCEEDED") throw new Error(`destroy failed: ${down.cause}`);
  } finally {
    await engine.close();
    await stopLocalStore(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    for (const k of Object.keys(podman.env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await podman.stop();
  }
  return rows;
}
