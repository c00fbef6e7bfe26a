import { createHash } from "node:crypto";
import type { StackStatusView } from "../src/pipeline/status.ts";
import type { StackKey, StackRuns } from "../src/ports/store.ts";

/**
 * Records a stack ready to provision from `yaml`, as `teamstack up` does before it starts the
 * state machine: the benchmarks then time `engine.provision(key)` alone.
 */
export async function createBenchStack(
  store: Pick<StackRuns, "createStack">,
  key: StackKey,
  yaml: string,
  templateFile: string,
  member = "bench",
): Promise<void> {
  const now = new Date().toISOString();
  await store.createStack({
    ...key,
    member,
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile,
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
}

/** First server started to last server ready, ms. */
export function makespanOf(view: StackStatusView | undefined): number {
  const servers = view?.servers ?? [];
  const starts = servers.map((s) => Date.parse(s.startedAt ?? ""));
  const ends = servers.map((s) => Date.parse(s.readyAt ?? ""));
  return Math.max(...ends) - Math.min(...starts);
}
