import { DEFAULT_SETTINGS, type ProviderName } from "../core/template.ts";
import type { ServerRecord, StackRecord, WaitRelease } from "../ports/store.ts";
import { causeMessage, iso, type PipelineDeps, serversLeft } from "./context.ts";
import { planDestroyHooks, undoneSteps } from "./destroy-hooks.ts";
import { DependentNotDestroyedError, HookFailedError, ServersFailedError } from "./errors.ts";
import type { DestroyPlan, FailureInput, RunInput, ServerInput, TokenInput } from "./run.ts";
import { parkWaitToken, refOf } from "./servers.ts";

/**
 * The task functions of the destroy state machine. Servers go in reverse dependency order with
 * parallelism: a server is destroyed as soon as every server that depends on it is gone, not level
 * by level. It is the provision machine's dependency wait turned around: a server's `pending` set
 * holds its live dependents, WaitForDependents parks its token on its record, and DestroyServer
 * removes the destroyed server from the pending set of each server in its `deps`, so whichever
 * update completes "nothing pending and a token present" sends the token back (the store tells
 * exactly one caller). A server whose destroy fails fails the waits of what it depends on: those
 * are kept, saying why, and the stack ends FAILED naming every server not destroyed.
 */

export type { DestroyPlan } from "./run.ts";

/** DestroyServer's TimeoutSeconds in destroy.asl.json: the longest one destroy may take. */
export const DESTROY_TIMEOUT_SECONDS = 600;
/** Most a wait may last (Step Functions allows a year). */
const MAX_WAIT_SECONDS = 31_536_000;

/**
 * The order servers are destroyed in, and what each waits for: every server comes after all the
 * servers that depend on it (reverse topological order, records' document order among equals),
 * and waits only for dependents that come before it, so that no wait can deadlock at any
 * MaxConcurrency (were the records ever to hold a cycle, the edge that closes it is dropped).
 */
export function destroyOrder(records: readonly Pick<ServerRecord, "name" | "deps">[]): {
  readonly order: string[];
  readonly pending: ReadonlyMap<string, readonly string[]>;
  /** Servers on the longest chain of waits. */
  readonly depth: number;
} {
  const names = new Set(records.map((r) => r.name));
  const dependents = new Map<string, string[]>(records.map((r) => [r.name, []]));
  for (const r of records) {
    for (const d of new Set(r.deps)) if (names.has(d) && d !== r.name) dependents.get(d)?.push(r.name);
  }
  const order: string[] = [];
  const placed = new Set<string>();
  const waiting = new Map(records.map((r) => [r.name, dependents.get(r.name)?.length ?? 0]));
  const ready = records.filter((r) => waiting.get(r.name) === 0).map((r) => r.name);
  const place = (name: string): void => {
    placed.add(name);
    order.push(name);
  };
  const byName = new Map(records.map((r) => [r.name, r]));
  for (;;) {
    while (ready.length > 0) {
      const name = ready.shift() as string;
      place(name);
      for (const d of new Set(byName.get(name)?.deps ?? [])) {
        if (!names.has(d) || d === name || placed.has(d)) continue;
        const left = (waiting.get(d) ?? 0) - 1;
        waiting.set(d, left);
        if (left === 0) ready.push(d);
      }
    }
    const stuck = records.find((r) => !placed.has(r.name));
    if (!stuck) break;
    ready.push(stuck.name);
  }
  const position = new Map(order.map((n, i) => [n, i]));
  const pending = new Map<string, string[]>();
  const chain = new Map<string, number>();
  let depth = 0;
  for (const name of order) {
    const before = (dependents.get(name) ?? []).filter(
      (d) => (position.get(d) ?? Infinity) < (position.get(name) ?? -1),
    );
    pending.set(name, before);
    const length = 1 + Math.max(0, ...before.map((d) => chain.get(d) ?? 0));
    chain.set(name, length);
    depth = Math.max(depth, length);
  }
  return { order, pending, depth };
}

/**
 * The destroy run's plan, once Prepare (`mode: destroy`) holds the lock: marks the stack
 * DESTROYING and prepares every server not destroyed yet for this run: its pending set is its live
 * dependents. Reads records only (the settings Prepare recorded), so that a stack whose template no
 * longer validates can still be destroyed.
 */
export async function planDestroy(
  deps: Pick<PipelineDeps, "store" | "now">,
  stack: StackRecord,
  run: number,
): Promise<DestroyPlan> {
  const key = { team: stack.team, stackId: stack.stackId };
  await deps.store.updateStack(key, {
    status: "DESTROYING",
    run,
    startedAt: iso(deps),
    finishedAt: undefined,
    error: undefined,
  });
  // Destroyed again: its records are no longer due to expire.
  if (stack.purgeAt !== undefined) await deps.store.expireStack(key, undefined);
  const live = (await deps.store.listServers(key)).filter((r) => r.status !== "DESTROYED");
  const { order, pending, depth } = destroyOrder(live);
  await deps.store.appendEvent(key, {
    type: "DestroyStarted",
    message: `run ${run}: destroying ${order.length} server${order.length === 1 ? "" : "s"}`,
  });
  // Written a few at a time, as Prepare writes a run's records.
  for (let i = 0; i < order.length; i += 25) {
    await Promise.all(
      order.slice(i, i + 25).map((name) =>
        deps.store.updateServer(key, name, {
          run,
          pending: [...(pending.get(name) ?? [])],
          waitToken: undefined,
          failedDep: undefined,
          readyToken: undefined,
        }),
      ),
    );
  }
  return {
    run,
    ...(await planDestroyHooks(deps, key, run)),
    servers: order,
    maxParallel: stack.settings?.maxParallel ?? DEFAULT_SETTINGS.maxParallel,
    waitTimeout: destroyWaitTimeout(depth),
  };
}

/** The longest a server may wait for its dependents to be destroyed: the longest chain of them. */
export function destroyWaitTimeout(depth: number): number {
  return Math.min(DESTROY_TIMEOUT_SECONDS * Math.max(depth, 1) + 300, MAX_WAIT_SECONDS);
}

/** Sends a parked destroy-wait token back; the store tells exactly one caller to. */
async function release(deps: Pick<PipelineDeps, "tokens">, r: WaitRelease, server: string): Promise<void> {
  if (r.outcome === "success") await deps.tokens.sendSuccess(r.token, { server });
  else {
    await deps.tokens.sendFailure(
      r.token,
      new DependentNotDestroyedError("").name,
      `kept: \`${r.failedDep}\`, which depends on it, was not destroyed`,
    );
  }
}

/**
 * WaitForDependents: parks the token on the server's record. Whoever completes "no live dependent
 * and a token present" sends it back: this task, or the DestroyServer of its last dependent.
 */
export async function waitForDependents(
  deps: Pick<PipelineDeps, "store" | "tokens">,
  input: TokenInput,
): Promise<void> {
  await parkWaitToken(
    deps,
    input,
    (r) => release(deps, r, input.server),
    (pending) => `${input.server} waits for ${pending.join(", ")} to be destroyed first`,
  );
}

/**
 * DestroyServer: the provider destroys the server (one already gone is fine), then the servers it
 * depends on each lose it from their pending set. Safe to run again: a retry destroys nothing twice
 * and releases the same waits.
 */
export async function destroyServer(
  deps: Pick<PipelineDeps, "store" | "provider" | "tokens">,
  input: ServerInput,
): Promise<void> {
  const key = { team: input.team, stackId: input.stackId };
  const rec = await deps.store.getServer(key, input.server);
  if (!rec) return;
  if (rec.status !== "DESTROYED") {
    if (rec.artifacts?.Id || rec.idempotencyToken) {
      await deps.provider(rec.provider as ProviderName).destroy(refOf(rec));
    }
    await deps.store.updateServer(key, input.server, {
      status: "DESTROYED",
      readyToken: undefined,
      waitToken: undefined,
      error: undefined,
    });
    await deps.store.appendEvent(key, {
      type: "ServerDestroyed",
      server: input.server,
      message: `${input.server}: destroyed`,
    });
  }
  await forEachDep(rec, async (d) => {
    const after = await deps.store.removePending(key, d, input.run, input.server);
    if (after.release) await release(deps, after.release, d);
  });
}

/** Runs `step` for each server `rec` depends on; one without a record (deleted) waits for nothing. */
async function forEachDep(rec: ServerRecord, step: (dep: string) => Promise<void>): Promise<void> {
  await Promise.all(
    [...new Set(rec.deps)]
      .filter((d) => d !== rec.name)
      .map((d) =>
        step(d).catch((error: unknown) => {
          if ((error as Error).name !== "ServerRecordNotFoundError") throw error;
        }),
      ),
  );
}

/**
 * MarkDestroyFailed: records why the server is still there (its destroy failed, or a dependent
 * of it was kept) and fails the waits of what it depends on, which are kept in turn.
 */
export async function markDestroyFailed(
  deps: Pick<PipelineDeps, "store" | "tokens">,
  input: FailureInput,
): Promise<void> {
  const key = { team: input.team, stackId: input.stackId };
  const kept = input.error.Error === new DependentNotDestroyedError("").name;
  const timedOut = input.error.Error === "States.Timeout";
  const reason = kept
    ? causeMessage(input.error.Cause)
    : timedOut
      ? "not destroyed in time"
      : `destroy failed: ${causeMessage(input.error.Cause)}`;
  const rec = await deps.store.updateServer(key, input.server, {
    ...(kept ? {} : { status: "FAILED" as const }),
    error: reason,
    waitToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: kept ? "ServerKept" : "ServerDestroyFailed",
    server: input.server,
    message: `${input.server}: ${reason}`,
  });
  await forEachDep(rec, async (d) => {
    const after = await deps.store.setFailedDep(key, d, input.run, input.server);
    if (after.release) await release(deps, after.release, d);
  });
}

/** CheckDestroyed: every server of the run is destroyed, or the run fails naming those that are not. */
export async function checkDestroyed(deps: Pick<PipelineDeps, "store">, input: RunInput): Promise<void> {
  const key = { team: input.team, stackId: input.stackId };
  const left = (await deps.store.listServers(key)).filter(
    (r) => r.run === input.run && r.status !== "DESTROYED",
  );
  const undone = await undoneSteps(deps, key, input.run);
  if (left.length === 0 && !undone) return;
  if (left.length === 0)
    throw new HookFailedError(`servers destroyed, but ${undone}; \`down\` again retries what was not undone`);
  throw new ServersFailedError(`${serversLeft(left, "not destroyed")}${undone ? `; and ${undone}` : ""}`);
}

/**
 * CheckRemoved (provision machine, after RemoveServers): the servers an update removed are
 * destroyed, and their records go; the run fails naming those that are not.
 */
export async function checkRemoved(deps: Pick<PipelineDeps, "store">, input: RunInput): Promise<void> {
  const key = { team: input.team, stackId: input.stackId };
  const removed = (await deps.store.listServers(key)).filter((r) => r.removed);
  const left = removed.filter((r) => r.status !== "DESTROYED");
  await Promise.all(
    removed.filter((r) => r.status === "DESTROYED").map((r) => deps.store.deleteServer(key, r.name)),
  );
  if (left.length > 0) throw new ServersFailedError(serversLeft(left, "not removed"));
}
