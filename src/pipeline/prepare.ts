import { type CompiledStack, everyHook } from "../core/compile.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import type { RunSettings, StackRecord } from "../ports/store.ts";
import { changeSetOf, summary, versionOf } from "./changes.ts";
import { getStack, keyOf, type PipelineDeps, providerOf } from "./context.ts";
import { planDestroy } from "./destroy.ts";
import { StackLockedError } from "./errors.ts";
import { lockForExpiry } from "./expiry.ts";
import {
  type DestroyPlan,
  lock,
  type ProvisionPlan,
  type RunSpecs,
  type StackInput,
  startRun,
} from "./run.ts";
import { isStopped } from "./status.ts";
import { compileStackRecord } from "./template.ts";

export type { DestroyPlan, ProvisionPlan, StackInput } from "./run.ts";
export { compileStackRecord, hookSecrets } from "./template.ts";

/**
 * Prepare: the only task that reads the template. It validates and compiles it, and records the
 * run with every server's and hook's compiled spec; the other tasks read those records.
 */

type PrepareDeps = Pick<PipelineDeps, "store" | "executions" | "catalog" | "now">;

/** The longest a server may wait for its dependencies: the longest chain before it to be created. */
function waitTimeout(serverTimeout: number, levels: number): number {
  return Math.min(serverTimeout * Math.max(levels, 1) + 300, 31_536_000);
}

/** The run a compiled stack makes for a stack (whose `simulate` says which servers run on sim). */
export function runSpecs(compiled: CompiledStack, stack: StackRecord, catalog: ProviderCatalog): RunSpecs {
  const { settings } = compiled;
  const run: RunSettings = {
    onFailure: settings.onFailure,
    maxParallel: settings.maxParallel,
    serverTimeout: settings.serverTimeoutSeconds,
    waitTimeout: waitTimeout(settings.serverTimeoutSeconds, compiled.levels),
    ...(settings.ttlSeconds !== undefined ? { ttlSeconds: settings.ttlSeconds } : {}),
    ...(settings.autoStopSeconds !== undefined ? { autoStopSeconds: settings.autoStopSeconds } : {}),
  };
  return {
    servers: compiled.servers.map(({ name, ...spec }) => ({
      name,
      spec,
      provider: providerOf(stack, spec.provider, catalog),
    })),
    hooks: everyHook(compiled).map(({ phase, index, ...spec }) => ({
      phase,
      index,
      spec,
    })),
    settings: run,
    context: { member: stack.member, secrets: compiled.secrets },
  };
}

/** Prepare: lock, load, validate, compile, record the run; returns the Map items and limits. */
export async function prepare(
  deps: PrepareDeps & Partial<Pick<PipelineDeps, "events" | "schedules">>,
  input: StackInput & { readonly request?: { readonly expired?: unknown } },
): Promise<ProvisionPlan | DestroyPlan> {
  if (input.mode === "destroy") return prepareDestroy(deps, input);
  const key = keyOf(input);
  // A run on a stopped stack would make its stopped servers again from scratch, losing their
  // files: refused before anything is touched (the doors refuse it too; this covers a redrive or
  // an execution started by hand). A retried Prepare holds the lock, and the stack is RUNNING.
  const before = await getStack(deps, key);
  if (isStopped(before.status) && before.lock?.execution !== input.execution) {
    throw new StackLockedError(
      `stack \`${key.stackId}\` is ${before.status.toLowerCase()}: a run would make its stopped servers again; start it first (teamstack start ${key.stackId})`,
    );
  }
  const run = await lock(deps, input);
  const stack = await getStack(deps, key);
  const compiled = compileStackRecord(stack, deps.catalog);
  // What exists against the template: a server whose spec changed, or whose artifacts in use
  // change, is replaced; one no longer in the template is removed (see src/core/change-set.ts).
  const [servers, hooks] = await Promise.all([deps.store.listServers(key), deps.store.listHooks(key)]);
  const version = versionOf(stack);
  const changes = changeSetOf(version, version, servers, hooks, compiled);
  const replace = new Set(changes.servers.filter((c) => c.action === "replace").map((c) => c.name));
  if (changes.servers.some((c) => c.action === "replace" || c.action === "delete")) {
    await deps.store.appendEvent(key, {
      type: "ChangeSet",
      message: `run ${run}${stack.template ? ` to ${stack.template.name} v${stack.template.version}` : ""}: ${summary(changes)}; ${changes.servers
        .filter((c) => c.action === "replace" || c.action === "delete")
        .slice(0, 20)
        .map((c) => `${c.name} ${c.action}d (${c.reasons.join("; ")})`)
        .join(", ")}`,
    });
  }
  return startRun(deps, stack, run, runSpecs(compiled, stack, deps.catalog), replace, { servers, hooks });
}

function compiledOrUndefined(stack: StackRecord, catalog: ProviderCatalog): RunSpecs | undefined {
  try {
    return runSpecs(compileStackRecord(stack, catalog), stack, catalog);
  } catch {
    return undefined;
  }
}

/**
 * Prepare of the destroy machine: lock, then the servers that exist, dependents first (see
 * destroy.ts). A server recorded before specs were stored gets its spec, so that the provider
 * finds its placement (`ServerRef.options`).
 */
export async function prepareDestroy(
  deps: PrepareDeps & Partial<Pick<PipelineDeps, "events" | "schedules">>,
  input: StackInput & { readonly request?: { readonly expired?: unknown } },
): Promise<DestroyPlan> {
  const key = keyOf(input);
  // A ttl's destroy (`request.expired`) checks it is still due and records the expiry.
  const run =
    input.request?.expired !== undefined && deps.events
      ? await lockForExpiry(
          { ...deps, events: deps.events },
          key,
          input.request,
          () => lock(deps, input),
          input.execution,
        )
      : await lock(deps, input);
  const stack = await getStack(deps, key);
  const existing = new Map((await deps.store.listServers(key)).map((s) => [s.name, s]));
  const unspecified = [...existing.values()].filter((s) => !s.spec && s.status !== "DESTROYED");
  // A template that no longer validates still has servers to destroy, with their providers' defaults.
  const compiled = unspecified.length > 0 ? compiledOrUndefined(stack, deps.catalog) : undefined;
  if (compiled) {
    const specs = new Map(compiled.servers.map((s) => [s.name, s.spec]));
    await Promise.all(
      unspecified.map(async (s) => {
        const spec = specs.get(s.name);
        if (spec) await deps.store.putServer({ ...s, spec, context: compiled.context });
      }),
    );
  }
  return planDestroy(deps, stack, run);
}
