// Benchmark: each Lambda's bundle, built exactly as the deployment builds it, by size (against its goal) and cold import.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { esbuildOptions, RUNTIME_PROVIDED_MODULES } from "../infra/constructs/lambda-function.ts";

const ROOT = join(import.meta.dirname, "..");
const RUNS = 5;
const IMPORT_GOAL_MS = 150;

/**
 * The functions that read templates (YAML): the API and the signup consumer publish and create
 * stacks from them, Prepare compiles them, and the rollout advancer's next wave goes through
 * StackService.update, which reads the new version. Every other function is a task that reads the run's
 * compiled records, and carries neither the YAML parser nor the validator.
 */
export const TEMPLATE_READERS: ReadonlySet<string> = new Set(["api", "signup", "prepare", "rollout"]);
/** Minified size goals, KB: a task function's, and a template reader's. */
export const TASK_SIZE_GOAL_KB = 150;
export const READER_SIZE_GOAL_KB = 300;

/** The size goal of a function's bundle, KB. */
export function sizeGoalKb(folder: string): number {
  return TEMPLATE_READERS.has(folder) ? READER_SIZE_GOAL_KB : TASK_SIZE_GOAL_KB;
}

/**
 * Dummy values for every variable a handler reads at cold start (lambdas/shared): importing a
 * bundle builds its clients and reads its configuration, and sends nothing.
 */
export const DUMMY_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: "us-east-1",
  TABLE_NAME: "teamstack-bench",
  EVENT_BUS_NAME: "teamstack-bench",
  PROVISION_STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:Teamstack-Provision",
  DESTROY_STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:Teamstack-Destroy",
  CALLBACK_BASE_URL: "https://api.example.invalid",
  CALLBACK_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:CallbackSecret-AbCdEf",
};

/** Every handler folder under lambdas/ (the task functions, the API, the signup consumer). */
export function handlerFolders(root = ROOT): string[] {
  const dir = join(root, "lambdas");
  return readdirSync(dir)
    .filter((f) => existsSync(join(dir, f, "handler.ts")))
    .sort();
}

/**
 * Milliseconds a fresh Node process (this one's binary: the pinned Node 24) takes to import a
 * bundle. The bundles sit under node_modules/.cache, so the modules the Lambda runtime provides
 * (the AWS SDK) resolve from the project's node_modules, as the runtime resolves them from its own.
 */
function coldImportMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH ?? "", ...DUMMY_ENV },
    encoding: "utf8",
  });
  return Number(out);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function benchBundles(): Promise<Record<string, string>> {
  const outDir = join(ROOT, "node_modules", ".cache", "teamstack-bench-bundles");
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const rows: Record<string, string> = {};
  const over: string[] = [];
  let largestTask = 0;
  let slowest = 0;
  try {
    for (const folder of handlerFolders()) {
      const outfile = join(outDir, folder, "index.mjs");
      await build(esbuildOptions(join(ROOT, "lambdas", folder, "handler.ts"), outfile));
      const kb = statSync(outfile).size / 1024;
      const ms = median(Array.from({ length: RUNS }, () => coldImportMs(outfile)));
      const goal = sizeGoalKb(folder);
      if (kb >= goal) over.push(folder);
      if (!TEMPLATE_READERS.has(folder)) largestTask = Math.max(largestTask, kb);
      slowest = Math.max(slowest, ms);
      rows[`lambdas/${folder}`] =
        `${kb.toFixed(1)} KB minified (goal < ${goal} KB: ${kb < goal ? "met" : "NOT met"}), cold import ${ms.toFixed(0)} ms`;
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  const met = over.length === 0 && slowest < IMPORT_GOAL_MS;
  rows["largest task bundle / slowest cold import"] =
    `${largestTask.toFixed(1)} KB / ${slowest.toFixed(0)} ms (goal: each task < ${TASK_SIZE_GOAL_KB} KB, ${[...TEMPLATE_READERS].join(", ")} < ${READER_SIZE_GOAL_KB} KB, each import < ${IMPORT_GOAL_MS} ms: ${met ? "met" : `NOT met${over.length > 0 ? ` (${over.join(", ")} over)` : ""}`}); cold import is the median of ${RUNS} fresh processes; ${RUNTIME_PROVIDED_MODULES.join(", ")} left to the Lambda runtime`;
  return rows;
}
