import type { CompiledHook, CompiledServer } from "../core/compiled.ts";
import type { HookPhase } from "../core/template.ts";
import type {
  HookRecord,
  RunContext,
  RunSettings,
  ServerRecord,
  StackKey,
  StackRecord,
} from "../ports/store.ts";
import { mayExist } from "./changes.ts";
import { getStack, iso, keyOf, type PipelineDeps } from "./context.ts";
import { destroyOrder, destroyWaitTimeout } from "./destroy.ts";
import { StackLockedError } from "./errors.ts";

/**
 * Starting a run: the stack's lock, and the run's server and hook records written from compiled
 * specs. Prepare compiles the specs from the template; a redrive takes them from the records the
 * failed run left. Nothing here reads the template.
 */

export interface StackInput extends StackKey {
  readonly execution: string;
  readonly mode?: "provision" | "destroy";
}
export interface RunInput extends StackKey {
  readonly run: number;
}
export interface ServerInput extends RunInput {
  readonly server: string;
}
export interface TokenInput extends ServerInput {
  readonly token: string;
}
export interface HookInput extends RunInput {
  readonly phase: HookPhase;
  readonly index: number;
}
export interface FailureInput extends ServerInput {
  readonly error: { readonly Error: string; readonly Cause: string };
}

export interface ProvisionPlan {
  readonly run: number;
  /** Servers this run creates (or replaces), in topological order (the Servers Map's items). */
  readonly servers: string[];
  /**
   * Servers no longer in the template, to destroy once the others are ready, dependents first
   * (the RemoveServers Map's items; the destroy machine's wait protocol).
   */
  readonly remove: string[];
  /** How long a removed server may wait for its removed dependents to be destroyed, in seconds. */
  readonly removeWaitTimeout: number;
  readonly preHooks: number[];
  readonly postHooks: number[];
  readonly maxParallel: number;
  readonly serverTimeout: number;
  readonly waitTimeout: number;
}

export interface DestroyPlan {
  readonly run: number;
  /** Servers to destroy, dependents before what they depend on (the Map's items). */
  readonly servers: string[];
  readonly maxParallel: number;
  /** How long a server may wait for its dependents to be destroyed, in seconds. */
  readonly waitTimeout: number;
  /** destroy_hooks to run before the servers are destroyed, then undo steps (destroy-hooks.ts). */
  readonly destroyHooks: number[];
  readonly undo: number[];
}

/** What a run is made of: every server's and hook's spec, the settings, the context. */
export interface RunSpecs {
  /** Every server of the stack, in topological order, with the provider that runs it (sim when simulated). */
  readonly servers: readonly {
    readonly name: string;
    readonly spec: CompiledServer;
    readonly provider: string;
  }[];
  /** Every hook, pre hooks first, each phase in order. */
  readonly hooks: readonly {
    readonly phase: HookPhase;
    readonly index: number;
    readonly spec: CompiledHook;
  }[];
  readonly settings: RunSettings;
  readonly context: RunContext;
}

/** Takes the stack's lock for this execution (again, on a retry), or says who holds it. */
export async function lock(
  deps: Pick<PipelineDeps, "store" | "executions" | "now">,
  input: StackInput,
): Promise<number> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const held = stack.lock;
  if (held?.execution === input.execution) return held.run;
  let steal: { execution: string } | undefined;
  if (held) {
    if (await deps.executions.isRunning(held.execution)) {
      throw new StackLockedError(
        `stack \`${key.stackId}\` is busy: run ${held.run} (execution ${held.execution}, since ${held.since}) is still running; wait for it or stop it`,
      );
    }
    steal = { execution: held.execution };
  }
  const run = Math.max(stack.run, held?.run ?? 0) + 1;
  const got = await deps.store.acquireLock(key, { run, execution: input.execution, since: iso(deps) }, steal);
  if (!got.acquired) {
    throw new StackLockedError(
      `stack \`${key.stackId}\` is busy: run ${got.holder.run} (execution ${got.holder.execution}, since ${got.holder.since}) holds it`,
    );
  }
  if (steal) {
    await deps.store.appendEvent(key, {
      type: "LockTakenOver",
      message: `run ${held?.run} (${steal.execution}) is no longer running; run ${run} takes over`,
    });
  }
  return run;
}

/** Writes a few at a time: a 1,000-server stack is prepared in well under a second. */
async function inBatches<T>(items: readonly T[], write: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 25) await Promise.all(items.slice(i, i + 25).map(write));
}

/** A server's new record for this run, carrying over what its earlier attempts recorded. */
function runRecord(
  key: StackKey,
  run: number,
  server: RunSpecs["servers"][number],
  before: ServerRecord | undefined,
  inRun: ReadonlySet<string>,
  dependents: readonly string[],
  context: RunContext,
  replace: ServerRecord["replace"],
): ServerRecord {
  const { name, spec, provider } = server;
  const record: ServerRecord = {
    ...key,
    name,
    provider,
    type: spec.type,
    status: "PENDING",
    deps: spec.dependsOn,
    pending: spec.dependsOn.filter((d) => inRun.has(d)),
    dependents,
    run,
    attempt: before?.attempt ?? 0,
    ...(before?.idempotencyToken ? { idempotencyToken: before.idempotencyToken } : {}),
    ...(before?.createdRun !== undefined ? { createdRun: before.createdRun } : {}),
    ...(before?.artifacts ? { artifacts: before.artifacts } : {}),
    ...(before?.status === "FAILED" ? { error: before.error } : {}),
    spec,
    context,
    ...(replace ? { replace } : {}),
  };
  // A server that failed keeps its status until CreateServer replaces it, so rollback and
  // create know the old one exists.
  return before?.status === "FAILED" || before?.status === "CREATING"
    ? { ...record, status: before.status }
    : record;
}

/**
 * Records a run: each server that is not ready yet, or that the update replaces, gets its record
 * for this run (spec, pending dependencies, dependents; `replace` when the copy that exists goes
 * first), each hook that has not succeeded as it is now a PENDING record with its spec, each
 * server no longer in the template is marked `removed` with its removed dependents pending (or
 * its record deleted, when nothing of it exists), and the stack is RUNNING with the run's
 * settings. Returns the Map items and limits.
 *
 * `replace`: servers that exist but must be made again (their spec changed, or artifacts they use
 * will). A record marked `replace` by an earlier Prepare stays marked until CreateServer acts on it.
 */
export async function startRun(
  deps: Pick<PipelineDeps, "store" | "now">,
  stack: StackRecord,
  run: number,
  specs: RunSpecs,
  replace: ReadonlySet<string> = new Set(),
  /** The stack's server and hook records, when the caller has just read them (Prepare has). */
  read?: { readonly servers: readonly ServerRecord[]; readonly hooks: readonly HookRecord[] },
): Promise<ProvisionPlan> {
  const key = keyOf(stack);
  const all = read?.servers ?? (await deps.store.listServers(key));
  const existing = new Map(all.map((s) => [s.name, s]));
  const replaced = (name: string) => replace.has(name) || existing.get(name)?.replace !== undefined;
  // A rerun creates only what is missing: servers ready from an earlier run stay out of the Map.
  const todo = specs.servers.filter((s) => existing.get(s.name)?.status !== "SUCCEEDED" || replaced(s.name));
  const inRun = new Set(todo.map((s) => s.name));
  const dependents = new Map<string, string[]>(todo.map((s) => [s.name, []]));
  for (const { name, spec } of todo) for (const d of spec.dependsOn) dependents.get(d)?.push(name);
  const records: ServerRecord[] = todo.map((s) => {
    const before = existing.get(s.name);
    // Where the copy that exists is: as an earlier Prepare recorded it, or as its record has it.
    // A failed or half-made copy from another spec is replaced too: it may be elsewhere.
    const stale = before?.spec !== undefined && before.spec.hash !== s.spec.hash;
    const again =
      before !== undefined && (replaced(s.name) || stale) && mayExist(before)
        ? (before.replace ?? {
            provider: before.provider,
            ...(before.spec ? { options: before.spec.options } : {}),
          })
        : undefined;
    return runRecord(key, run, s, before, inRun, dependents.get(s.name) ?? [], specs.context, again);
  });
  // A ready server that is kept keeps its copy; its record takes the spec as the template has it
  // now (same hash: its place in the order or what it waits for may differ), and one recorded
  // before specs were stored gets its spec, so that destroying it finds its placement.
  for (const { name, spec } of specs.servers) {
    const before = existing.get(name);
    if (before?.status !== "SUCCEEDED" || inRun.has(name)) continue;
    if (!before.spec || JSON.stringify(before.spec) !== JSON.stringify(spec))
      records.push({ ...before, spec, deps: spec.dependsOn, context: specs.context });
  }
  await inBatches(records, (r) => deps.store.putServer(r));
  const remove = await recordRemovals(deps, key, run, all, new Set(specs.servers.map((s) => s.name)));
  // A rerun runs again, in order, every hook that did not succeed as it is now: one SKIPPED for a
  // secret the team has since set, one that FAILED (with continue_on_error, or before the run
  // failed), one whose spec at its place changed in an update.
  const done = new Set(
    (read?.hooks ?? (await deps.store.listHooks(key)))
      .filter((h) => h.status === "SUCCEEDED")
      .map((h) => `${h.phase}#${h.index}#${JSON.stringify(h.spec ?? null)}`),
  );
  const hooks = specs.hooks.filter((h) => !done.has(`${h.phase}#${h.index}#${JSON.stringify(h.spec)}`));
  await inBatches(
    hooks.map(
      (h): HookRecord => ({
        ...key,
        phase: h.phase,
        index: h.index,
        type: h.spec.type,
        status: "PENDING",
        run,
        spec: h.spec,
        context: specs.context,
      }),
    ),
    (h) => deps.store.putHook(h),
  );
  await deps.store.updateStack(key, {
    status: "RUNNING",
    run,
    startedAt: iso(deps),
    finishedAt: undefined,
    error: undefined,
    settings: specs.settings,
  });
  const replacing = todo.filter((s) => replaced(s.name)).length;
  await deps.store.appendEvent(key, {
    type: "RunStarted",
    message: `run ${run}: ${todo.length} of ${specs.servers.length} servers to create${replacing > 0 ? ` (${replacing} replacing the copy that exists)` : ""}${remove.order.length > 0 ? `, ${remove.order.length} to remove` : ""}`,
  });
  const indices = (phase: "pre" | "post") => hooks.filter((h) => h.phase === phase).map((h) => h.index);
  return {
    run,
    servers: todo.map((s) => s.name),
    remove: remove.order,
    removeWaitTimeout: remove.waitTimeout,
    preHooks: indices("pre"),
    postHooks: indices("post"),
    maxParallel: specs.settings.maxParallel,
    serverTimeout: specs.settings.serverTimeout,
    waitTimeout: specs.settings.waitTimeout,
  };
}

/**
 * The servers a run removes: those whose records are not in the template. One of which nothing
 * exists loses its record now; the others are marked `removed` and prepared for the destroy wait
 * protocol among themselves (dependents first).
 */
async function recordRemovals(
  deps: Pick<PipelineDeps, "store">,
  key: StackKey,
  run: number,
  records: readonly ServerRecord[],
  inTemplate: ReadonlySet<string>,
): Promise<{ order: string[]; waitTimeout: number }> {
  const gone = records.filter((r) => !inTemplate.has(r.name));
  await inBatches(
    gone.filter((r) => !mayExist(r)),
    (r) => deps.store.deleteServer(key, r.name),
  );
  const live = gone.filter(mayExist);
  const { order, pending, depth } = destroyOrder(live);
  await inBatches(order, (name) =>
    deps.store
      .updateServer(key, name, {
        removed: true,
        run,
        pending: [...(pending.get(name) ?? [])],
        waitToken: undefined,
        failedDep: undefined,
        readyToken: undefined,
      })
      .then(() => undefined),
  );
  return { order, waitTimeout: destroyWaitTimeout(depth) };
}
