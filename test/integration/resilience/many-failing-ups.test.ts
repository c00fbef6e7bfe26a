import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { finalJson, runCli, shown, tempStateDir } from "../cli-stack/stack-cli.ts";

// 200 real `teamstack up` processes of failing DAGs, a few at a time: every one ends as a failed
// stack with exit code 1, none dies of a signal or logs an internal error.

const RUNS = 200;
const AT_ONCE = 4;

/**
 * A dependency failing as its dependents park (max_parallel 2 starts `d` when `x` is ready, about
 * when `r` fails), a chain behind it, and a random failure: `i` varies the timing.
 */
function template(i: number): string {
  return [
    "settings: { max_parallel: 2 }",
    "servers:",
    "  - { name: r, provider: sim, type: t3.micro, options: { fail: true, boot_ms: 60 } }",
    `  - { name: x, provider: sim, type: t3.micro, options: { boot_ms: ${40 + (i % 40)} } }`,
    "  - { name: d, provider: sim, type: t3.micro, depends_on: [r] }",
    "  - { name: e, provider: sim, type: t3.micro, depends_on: [d, x] }",
    `  - { name: y, provider: sim, type: t3.micro, options: { fail: 0.5, seed: ${i} } }`,
  ].join("\n");
}

let stateDirs: string[] = [];
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stateDirs = await Promise.all(Array.from({ length: AT_ONCE }, (_, w) => tempStateDir(`many-ups-${w}`)));
  // Node's compile cache spares each process compiling the same modules again (a third of its CPU).
  env = { ...process.env, NODE_COMPILE_CACHE: join(stateDirs[0] as string, "compile-cache") };
});

afterAll(async () => {
  // Sim servers only: nothing runs outside the store, so no `down` of each stack is needed.
  for (const dir of stateDirs) {
    await stopLocalStore(dir);
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);

describe(`${RUNS} runs of \`teamstack up\` on a failing DAG`, () => {
  it("fail every stack cleanly: exit code 1, no process death, no internal error", async () => {
    const started = Date.now();
    const problems: string[] = [];
    let next = 0;
    // One worker per state directory, each running `up` after `up`.
    await Promise.all(
      stateDirs.map(async (stateDir, w) => {
        for (let i = next++; i < RUNS; i = next++) {
          const file = join(stateDir, `dag-${i}.yaml`);
          await writeFile(file, template(i));
          const r = await runCli(
            ["up", file, "--member", `m${i}`, "--json", "--state-dir", stateDir],
            60_000,
            env,
          );
          const view = r.code === 1 ? (finalJson(r.stdout) as StackStatusView) : undefined;
          const d = view?.servers.find((s) => s.name === "d");
          if (
            r.code !== 1 ||
            r.signal !== null ||
            view?.status !== "FAILED" ||
            d?.status !== "SKIPPED" ||
            /internal error|unhandled/i.test(r.stderr)
          ) {
            problems.push(`run ${i} (worker ${w}): ${shown(r)}`);
          }
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    // Measured for the report: the wall time of all runs.
    console.log(`${RUNS} failing ups, ${AT_ONCE} at a time: ${seconds.toFixed(1)} s`);
    expect(problems, problems.slice(0, 3).join("\n\n")).toEqual([]);
  }, 900_000);
});
