import { hookSecretNames } from "../core/capabilities.ts";
import { type CompiledStack, compileStack, everyHook } from "../core/compile.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import type { HookSpec } from "../core/template.ts";
import type { RunSettings, StackRecord } from "../ports/store.ts";
import { getStack, keyOf, type PipelineDeps, providerOf } from "./context.ts";
import { planDestroy } from "./destroy.ts";
import {
  type DestroyPlan,
  lock,
  type ProvisionPlan,
  type RunSpecs,
  type StackInput,
  startRun,
} from "./run.ts";
import { loadStackTemplate } from "./template.ts";

export type { DestroyPlan, ProvisionPlan, StackInput } from "./run.ts";

/**
 * Prepare: the only task that reads the template. It validates and compiles it, and records the
 * run with every server's and hook's compiled spec; the other tasks read those records.
 */

type PrepareDeps = Pick<PipelineDeps, "store" | "executions" | "catalog" | "now">;

/** The team secrets a hook uses: those of its type, and the one a webhook signs with. */
export function hookSecrets(hook: HookSpec): string[] {
  return hookSecretNames(hook.type, hook.params);
}

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

/** Compiles a stack's template (with the plan its validation made) and the stack's non-secret context. */
export function compileStackRecord(stack: StackRecord, catalog: ProviderCatalog): CompiledStack {
  const { template, plan } = loadStackTemplate(stack, catalog);
  return compileStack(
    template,
    plan,
    { team: stack.team, stackId: stack.stackId, member: stack.member, userdata: stack.userdata },
    { hookSecrets },
  );
}

/** Prepare: lock, load, validate, compile, record the run; returns the Map items and limits. */
export async function prepare(deps: PrepareDeps, input: StackInput): Promise<ProvisionPlan | DestroyPlan> {
  if (input.mode === "destroy") return prepareDestroy(deps, input);
  const key = keyOf(input);
  const run = await lock(deps, input);
  const stack = await getStack(deps, key);
  return startRun(deps, stack, run, runSpecs(compileStackRecord(stack, deps.catalog), stack, deps.catalog));
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
export async function prepareDestroy(deps: PrepareDeps, input: StackInput): Promise<DestroyPlan> {
  const key = keyOf(input);
  const run = await lock(deps, input);
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
