import { ERROR_NAMES } from "../core/error-names.ts";
import type { ExpiryAction, ExpirySchedules } from "../ports/schedules.ts";
import type { StackKey, StackRecord } from "../ports/store.ts";
import { iso, keyOf, type PipelineDeps } from "./context.ts";
import { PipelineError } from "./errors.ts";

/**
 * Expiry: `settings.ttl` destroys a stack that long after its creation, `settings.auto_stop`
 * stops it that long after its last successful provision or start. The stack records when
 * (`expiresAt`, `stopsAt`); the task that sets them also sets the one-time schedule that fires
 * them (EventBridge Scheduler in AWS; `teamstack serve` reads the records locally). When one fires,
 * the run it starts checks that it is still due, records the expiry (an event on the stack and the
 * outbound `Stack Expired`) and clears the field, so that it fires once.
 */

export type { ExpiryAction } from "../ports/schedules.ts";

/** What a schedule (or serve's scheduler) puts in the execution input it starts. */
export interface ExpiryFire {
  readonly action: ExpiryAction;
  /** The due time it was set for (ISO). */
  readonly at: string;
}

/** The expiry a run's input names (`{expired: {action, at}}`), if it is well formed. */
export function expiryOf(request: { readonly expired?: unknown } | undefined): ExpiryFire | undefined {
  const e = request?.expired as { action?: unknown; at?: unknown } | undefined;
  if (!e || (e.action !== "destroy" && e.action !== "stop") || typeof e.at !== "string") return undefined;
  return { action: e.action, at: e.at };
}

/**
 * Takes the stack's lock for a run an expiry may have started (`request.expired`): checks first
 * that it is still due, has it tried again later when the stack is busy, and records the expiry
 * once the lock is held. Without an expiry, it only takes the lock.
 * @throws ExpiryNotDueError, and what `takeLock` throws (StackLockedError).
 */
export async function lockForExpiry(
  deps: ExpiryDeps,
  key: StackKey,
  request: { readonly expired?: unknown } | undefined,
  takeLock: () => Promise<number>,
  execution?: string,
): Promise<number> {
  const expired = expiryOf(request);
  if (!expired) return takeLock();
  const before = await deps.store.getStack(key);
  // A retried Prepare (its lock taken already) has recorded the expiry: it is not due any more.
  if (before && before.lock?.execution !== execution) checkDue(before, expired, deps.now());
  let run: number;
  try {
    run = await takeLock();
  } catch (error) {
    if ((error as Error).name === ERROR_NAMES.StackLockedError) await retryExpiryLater(deps, key, expired);
    throw error;
  }
  const stack = await deps.store.getStack(key);
  if (stack && stack[fieldOf(expired.action)] !== undefined) await recordExpired(deps, stack, expired);
  return run;
}

/** How long a busy stack's expiry waits before it is tried again. */
export const EXPIRY_RETRY_SECONDS = 60;

/** The expiry fired, but the stack's record says it is not due (it was extended, or it fired already). */
export class ExpiryNotDueError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.ExpiryNotDueError;
  }
}

type ExpiryDeps = Pick<PipelineDeps, "store" | "events" | "now"> & {
  readonly schedules?: ExpirySchedules;
};

const plus = (from: string | Date, seconds: number): string =>
  new Date(new Date(from).getTime() + seconds * 1000).toISOString();

/** The expiry action due at `now`, if any: destroy first (a stack to destroy need not stop). */
export function expiryDue(
  stack: Pick<StackRecord, "status" | "expiresAt" | "stopsAt">,
  now: Date,
): ExpiryAction | undefined {
  if (stack.status === "DESTROYED" || stack.status === "DESTROYING") return undefined;
  if (stack.expiresAt !== undefined && Date.parse(stack.expiresAt) <= now.getTime()) return "destroy";
  const stoppable = stack.status === "SUCCEEDED" || stack.status === "FAILED" || stack.status === "STARTING";
  if (stack.stopsAt !== undefined && stoppable && Date.parse(stack.stopsAt) <= now.getTime()) return "stop";
  return undefined;
}

/** The field of the stack that holds an action's due time. */
const fieldOf = (action: ExpiryAction): "expiresAt" | "stopsAt" =>
  action === "destroy" ? "expiresAt" : "stopsAt";

/** Sets or clears one expiry field and its schedule. */
async function setExpiry(
  deps: ExpiryDeps,
  key: StackKey,
  action: ExpiryAction,
  at: string | undefined,
): Promise<void> {
  await deps.store.updateStack(key, { [fieldOf(action)]: at });
  if (at === undefined) await deps.schedules?.clear(key, action);
  else await deps.schedules?.set(key, action, at);
}

/**
 * Records the stack's expiry after a run: `expiresAt` is creation + ttl (kept when set already,
 * so that an `extend` survives a rerun; cleared when the template has no ttl); `stopsAt` is now +
 * auto_stop when the stack has just been provisioned or started (`fresh`), cleared otherwise. The
 * schedules follow. Returns the stack's new expiry fields.
 */
export async function recordExpiry(
  deps: ExpiryDeps,
  stack: StackRecord,
  fresh: boolean,
): Promise<{ expiresAt?: string; stopsAt?: string }> {
  const key = keyOf(stack);
  const ttl = stack.settings?.ttlSeconds;
  const autoStop = stack.settings?.autoStopSeconds;
  const expiresAt = ttl === undefined ? undefined : (stack.expiresAt ?? plus(stack.createdAt, ttl));
  const stopsAt = autoStop === undefined || !fresh ? undefined : plus(deps.now(), autoStop);
  if (expiresAt !== stack.expiresAt || ttl !== undefined) await setExpiry(deps, key, "destroy", expiresAt);
  if (stopsAt !== stack.stopsAt) await setExpiry(deps, key, "stop", stopsAt);
  const changed = [
    ...(expiresAt !== stack.expiresAt && expiresAt ? [`destroyed at ${expiresAt} (ttl)`] : []),
    ...(stopsAt !== stack.stopsAt && stopsAt ? [`stopped at ${stopsAt} (auto_stop)`] : []),
  ];
  if (changed.length > 0) {
    await deps.store.appendEvent(key, {
      type: "ExpiryScheduled",
      message: `the stack will be ${changed.join("; ")}`,
    });
  }
  return { ...(expiresAt ? { expiresAt } : {}), ...(stopsAt ? { stopsAt } : {}) };
}

/** Clears both expiries and their schedules (a destroyed stack). */
export async function clearExpiry(deps: ExpiryDeps, stack: StackRecord): Promise<void> {
  const key = keyOf(stack);
  if (stack.expiresAt !== undefined) await deps.store.updateStack(key, { expiresAt: undefined });
  if (stack.stopsAt !== undefined) await deps.store.updateStack(key, { stopsAt: undefined });
  await deps.schedules?.clear(key, "destroy");
  await deps.schedules?.clear(key, "stop");
}

/**
 * Checks, before a fired expiry takes the stack's lock, that it is still due.
 * @throws ExpiryNotDueError when the record says otherwise (extended, or fired already).
 */
export function checkDue(stack: StackRecord, fire: ExpiryFire, now: Date): void {
  const at = stack[fieldOf(fire.action)];
  if (at === undefined || Date.parse(at) > now.getTime()) {
    throw new ExpiryNotDueError(
      `the ${fire.action === "destroy" ? "ttl" : "auto_stop"} of stack \`${stack.stackId}\` set for ${fire.at} is not due: ${at === undefined ? "it fired already or was removed" : `it was moved to ${at}`}`,
    );
  }
}

/** A fired expiry found the stack busy: it is tried again a little later. */
export async function retryExpiryLater(deps: ExpiryDeps, key: StackKey, fire: ExpiryFire): Promise<void> {
  await deps.schedules?.set(key, fire.action, plus(deps.now(), EXPIRY_RETRY_SECONDS));
}

/**
 * Records that the stack expired (once it holds the lock for the run that acts on it): clears the
 * field so that it does not fire again, appends `StackExpired`, and sends `Stack Expired`.
 */
export async function recordExpired(deps: ExpiryDeps, stack: StackRecord, fire: ExpiryFire): Promise<void> {
  const key = keyOf(stack);
  const at = stack[fieldOf(fire.action)] ?? fire.at;
  await deps.store.updateStack(key, { [fieldOf(fire.action)]: undefined });
  const setting = fire.action === "destroy" ? "ttl" : "auto_stop";
  await deps.store.appendEvent(key, {
    type: "StackExpired",
    message: `${setting} reached (due ${at}): the stack is ${fire.action === "destroy" ? "destroyed" : "stopped"}`,
  });
  await deps.events.publish({
    id: `${key.stackId}:expired:${fire.action}:${at}`,
    source: "teamstack.stacks",
    detailType: "Stack Expired",
    time: iso(deps),
    detail: { team: key.team, stackId: key.stackId, member: stack.member, action: fire.action, due: at },
  });
}

/**
 * Pushes back the stack's expiries by `seconds` (only those it has), from their due time or from
 * now when that is later, and moves their schedules.
 * @throws PipelineError when the stack has no expiry to push back.
 */
export async function extendExpiry(
  deps: ExpiryDeps,
  stack: StackRecord,
  seconds: number,
): Promise<{ expiresAt?: string; stopsAt?: string }> {
  const key = keyOf(stack);
  const now = deps.now();
  const later = (at: string) => plus(new Date(Math.max(Date.parse(at), now.getTime())), seconds);
  if (stack.expiresAt === undefined && stack.stopsAt === undefined) {
    throw new PipelineError(
      `stack \`${stack.stackId}\` has no expiry to push back: its template sets neither settings.ttl nor settings.auto_stop${stack.status === "STOPPED" ? " (a stopped stack's auto_stop starts again at its next start)" : ""}`,
    );
  }
  const out: { expiresAt?: string; stopsAt?: string } = {};
  if (stack.expiresAt !== undefined) out.expiresAt = later(stack.expiresAt);
  if (stack.stopsAt !== undefined) out.stopsAt = later(stack.stopsAt);
  if (out.expiresAt) await setExpiry(deps, key, "destroy", out.expiresAt);
  if (out.stopsAt) await setExpiry(deps, key, "stop", out.stopsAt);
  await deps.store.appendEvent(key, {
    type: "ExpiryExtended",
    message: `extended by ${seconds} s: ${[
      ...(out.expiresAt ? [`destroyed at ${out.expiresAt}`] : []),
      ...(out.stopsAt ? [`stopped at ${out.stopsAt}`] : []),
    ].join("; ")}`,
  });
  return out;
}
