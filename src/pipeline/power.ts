import { referencedServers, renderCompiledText } from "../core/compiled.ts";
import { ERROR_NAMES } from "../core/error-names.ts";
import { describeUnstoppable, unstoppableServers } from "../core/power.ts";
import { DEFAULT_SETTINGS, type ProviderName } from "../core/template.ts";
import { keepOutput } from "../ports/server-logs.ts";
import type { ServerRecord, StackKey, StackRecord } from "../ports/store.ts";
import {
  causeMessage,
  getStack,
  iso,
  keyOf,
  type PipelineDeps,
  serversLeft,
  stackArtifacts,
} from "./context.ts";
import { PipelineError, ServersFailedError, StackLockedError } from "./errors.ts";
import { checkDue, expiryOf, recordExpired, recordExpiry, retryExpiryLater } from "./expiry.ts";
import { EVENT_SOURCE } from "./finish.ts";
import { lock, type RunInput, type ServerInput } from "./run.ts";
import { runSecrets } from "./secrets.ts";
import { inTemplateOrder, refOf } from "./servers.ts";

/**
 * The task functions of the power state machine (statemachines/power.asl.json): stop and start a
 * stack's servers, and `on_start` (which the provision machine runs too, after user_data).
 *
 * Stop is one Map over the live servers, all at once. Start is the same Map, and each server's
 * on_start waits for its dependencies' on_start the way provision waits (WaitForDependencies,
 * PublishArtifacts: the same store protocol, no polling): every server is started at once, then
 * on_start runs in dependency order, so an on_start that reads `$servers.db.IP` runs once db is
 * up again with its (possibly new) address. Starting level by level would wait for the slowest
 * start of each level; this waits only where a dependency says so.
 */

export type PowerAction = "stop" | "start";

export interface PowerInput extends StackKey {
  readonly execution: string;
  readonly action: PowerAction;
  /** The execution's input: `expired` is there when an expiry (auto_stop) started this run. */
  readonly request?: { readonly expired?: unknown };
}

export interface PowerPlan {
  readonly run: number;
  readonly action: PowerAction;
  /** The servers to stop or start (start: in topological order, the Map's items). */
  readonly servers: string[];
  readonly maxParallel: number;
  /** How long a server's on_start may wait for its dependencies, in seconds. */
  readonly waitTimeout: number;
}

/** The stop or start cannot be made (a provider without the verb, a stack in the wrong state). */
export class PowerRefusedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.PowerRefusedError;
  }
}

/** on_start exited non-zero. */
export class OnStartFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.OnStartFailedError;
  }
}

/** RunOnStart's TimeoutSeconds in the ASL is this plus a margin. */
export const ON_START_TIMEOUT_SECONDS = 600;
/** How much of on_start's output an event keeps. */
const ON_START_OUTPUT_CHARS = 2000;

/** Stack statuses each action may start from. */
const FROM: Record<PowerAction, readonly string[]> = {
  stop: ["SUCCEEDED", "FAILED", "STOPPED", "STOPPING", "STARTING"],
  start: ["STOPPED", "STOPPING", "STARTING", "FAILED"],
};

/** Servers that stop and start: those that were made and became ready (running or stopped). */
function liveServers(records: readonly ServerRecord[]): ServerRecord[] {
  return records.filter(
    (s) => (s.status === "SUCCEEDED" || s.status === "STOPPED") && (s.artifacts?.Id ?? "") !== "",
  );
}

/**
 * Why the stack cannot be stopped or started now, or undefined. Reads records only: the
 * provider each server runs on (sim for a simulated one) and the stack's status.
 */
export function powerRefusal(
  deps: Pick<PipelineDeps, "catalog">,
  stack: StackRecord,
  servers: readonly ServerRecord[],
  action: PowerAction,
): string | undefined {
  if (!FROM[action].includes(stack.status)) {
    const what =
      stack.status === "RUNNING"
        ? "its run has not finished (rerun it, or destroy it)"
        : `it is ${stack.status.toLowerCase()}`;
    return `stack \`${stack.stackId}\` cannot be ${action === "stop" ? "stopped" : "started"}: ${what}`;
  }
  const unready = inTemplateOrder(servers).filter(
    (s) => s.status !== "SUCCEEDED" && s.status !== "STOPPED" && s.status !== "DESTROYED",
  );
  if (unready.length > 0) {
    return `stack \`${stack.stackId}\` cannot be ${action === "stop" ? "stopped" : "started"}: ${serversLeft(unready, "not ready")}; rerun it (or destroy it) first`;
  }
  const unstoppable = unstoppableServers(
    inTemplateOrder(liveServers(servers)).map((s) => ({ name: s.name, provider: s.provider })),
    deps.catalog,
  );
  if (unstoppable.length > 0) {
    return `stack \`${stack.stackId}\` cannot be ${action === "stop" ? "stopped" : "started"}: ${unstoppable.length === 1 ? "server" : "servers"} ${describeUnstoppable(unstoppable)} cannot be stopped and started by ${unstoppable.length === 1 ? "its provider" : "their providers"}`;
  }
  return undefined;
}

type PrepareDeps = Pick<PipelineDeps, "store" | "executions" | "catalog" | "events" | "now" | "schedules">;

/**
 * PreparePower: takes the stack's lock, checks the stop or start can be made, and prepares each
 * server of the run (start: its pending set is its dependencies in the run, as provision's).
 * An expiry that is no longer due, or that finds the stack busy (it is tried again later), is
 * refused without touching the stack.
 * @throws StackLockedError, PowerRefusedError, ExpiryNotDueError (refused: nothing changed).
 */
export async function preparePower(deps: PrepareDeps, input: PowerInput): Promise<PowerPlan> {
  const key = keyOf(input);
  const expired = expiryOf(input.request);
  const before = await getStack(deps, key);
  // A retried PreparePower (its lock taken already) has recorded the expiry: not due any more.
  const retry = before.lock?.execution === input.execution;
  if (expired && !retry) checkDue(before, expired, deps.now());
  let run: number;
  try {
    run = await lock(deps, input);
  } catch (error) {
    if (expired && error instanceof StackLockedError) await retryExpiryLater(deps, key, expired);
    throw error;
  }
  const stack = await getStack(deps, key);
  const records = await deps.store.listServers(key);
  const refusal = powerRefusal(deps, stack, records, input.action);
  if (refusal) {
    // An auto_stop that cannot be made is not tried again: the next start sets it anew.
    if (expired) {
      await deps.store.updateStack(key, { stopsAt: undefined });
      await deps.store.appendEvent(key, {
        type: "ExpirySkipped",
        message: `auto_stop not applied: ${refusal}`,
      });
    }
    await deps.store.releaseLock(key, input.execution);
    throw new PowerRefusedError(refusal);
  }
  if (expired && stack.stopsAt !== undefined) await recordExpired(deps, stack, expired);
  const live = inTemplateOrder(liveServers(records));
  const todo =
    input.action === "stop"
      ? live.filter((s) => s.status !== "STOPPED")
      : live
          .filter((s) => s.status !== "SUCCEEDED")
          .sort((a, b) => (a.spec?.order ?? 0) - (b.spec?.order ?? 0));
  const inRun = new Set(todo.map((s) => s.name));
  const dependents = new Map<string, string[]>(todo.map((s) => [s.name, []]));
  for (const s of todo) for (const d of new Set(s.deps)) if (d !== s.name) dependents.get(d)?.push(s.name);
  for (let i = 0; i < todo.length; i += 25) {
    await Promise.all(
      todo.slice(i, i + 25).map((s) =>
        deps.store.updateServer(key, s.name, {
          run,
          pending:
            input.action === "start" ? [...new Set(s.deps)].filter((d) => inRun.has(d) && d !== s.name) : [],
          dependents: input.action === "start" ? (dependents.get(s.name) ?? []) : [],
          waitToken: undefined,
          failedDep: undefined,
          readyToken: undefined,
          error: undefined,
        }),
      ),
    );
  }
  await deps.store.updateStack(key, {
    status: input.action === "stop" ? "STOPPING" : "STARTING",
    run,
    startedAt: iso(deps),
    finishedAt: undefined,
    error: undefined,
  });
  await deps.store.appendEvent(key, {
    type: input.action === "stop" ? "StopStarted" : "StartStarted",
    message: `run ${run}: ${input.action === "stop" ? "stopping" : "starting"} ${todo.length} of ${live.length} server${live.length === 1 ? "" : "s"}`,
  });
  const serverTimeout = stack.settings?.serverTimeout ?? DEFAULT_SETTINGS.serverTimeoutSeconds;
  return {
    run,
    action: input.action,
    servers: todo.map((s) => s.name),
    maxParallel: stack.settings?.maxParallel ?? DEFAULT_SETTINGS.maxParallel,
    waitTimeout: Math.min(
      (serverTimeout + ON_START_TIMEOUT_SECONDS) * Math.max(todo.length, 1) + 300,
      31_536_000,
    ),
  };
}

async function serverOf(deps: Pick<PipelineDeps, "store">, input: ServerInput): Promise<ServerRecord> {
  const rec = await deps.store.getServer(keyOf(input), input.server);
  if (!rec) throw new PowerRefusedError(`stack \`${input.stackId}\` has no server \`${input.server}\``);
  return rec;
}

function verb<V extends "stop" | "start">(
  deps: Pick<PipelineDeps, "provider">,
  rec: ServerRecord,
  name: V,
): NonNullable<ReturnType<PipelineDeps["provider"]>[V]> {
  const provider = deps.provider(rec.provider as ProviderName);
  const fn = provider[name];
  if (!fn) {
    throw new PowerRefusedError(
      `server \`${rec.name}\`: the ${rec.provider} provider cannot ${name} servers`,
    );
  }
  return fn.bind(provider) as NonNullable<ReturnType<PipelineDeps["provider"]>[V]>;
}

/** StopServer: the provider stops the server (its disk, Id and private address kept); STOPPED. */
export async function stopServer(
  deps: Pick<PipelineDeps, "store" | "provider" | "now">,
  input: ServerInput,
): Promise<void> {
  const key = keyOf(input);
  const rec = await serverOf(deps, input);
  if (rec.status === "STOPPED") return;
  await verb(deps, rec, "stop")(refOf(rec));
  await deps.store.updateServer(key, input.server, { status: "STOPPED", error: undefined });
  await deps.store.appendEvent(key, {
    type: "ServerStopped",
    server: input.server,
    message: `${input.server}: stopped`,
  });
}

/**
 * StartServer: the provider starts the server again, with the same Id; artifacts that changed
 * (a new public address) are recorded on the server, with an event naming each change.
 */
export async function startServer(
  deps: Pick<PipelineDeps, "store" | "provider" | "now">,
  input: ServerInput,
): Promise<void> {
  const key = keyOf(input);
  const rec = await serverOf(deps, input);
  if (rec.status === "SUCCEEDED") return;
  const now = await verb(deps, rec, "start")(refOf(rec));
  const before = rec.artifacts ?? {};
  const changed = Object.keys({ ...before, ...now }).filter((k) => before[k] !== now[k]);
  if (changed.length > 0) {
    await deps.store.updateServer(key, input.server, { artifacts: { ...before, ...now } });
    await deps.store.appendEvent(key, {
      type: "ArtifactsChanged",
      server: input.server,
      message: `${input.server}: ${changed.map((k) => `${k} ${before[k] ?? "(none)"} → ${now[k] ?? "(none)"}`).join(", ")}`,
    });
  }
  await deps.store.appendEvent(key, {
    type: "ServerStarted",
    server: input.server,
    message: `${input.server}: started at ${now.IP} (${now.Id})`,
  });
}

/**
 * RunOnStart: runs the server's on_start (if it has one), rendered like user_data with its
 * dependencies' artifacts as they are now and the member's secrets; its output is masked and the
 * end of it recorded in an event. In provision it runs after user_data succeeded, in start after
 * the server and its dependencies started.
 * @throws OnStartFailedError when on_start exits non-zero (its masked output in the message).
 */
export async function runOnStart(
  deps: Pick<PipelineDeps, "store" | "provider" | "secrets" | "logs">,
  input: ServerInput,
): Promise<void> {
  const key = keyOf(input);
  const rec = await serverOf(deps, input);
  const onStart = rec.spec?.onStart;
  if (!onStart || onStart.length === 0) return;
  const used = referencedServers([onStart]);
  const others = await Promise.all(used.map((d) => deps.store.getServer(key, d)));
  const secret = await runSecrets(deps.secrets, key.team, rec.context, { team: false });
  const script = renderCompiledText(onStart, {
    servers: Object.fromEntries(used.map((d, i) => [d, others[i]?.artifacts])),
    secrets: secret.userdata,
  });
  const { mask } = await runSecrets(deps.secrets, key.team, rec.context);
  const result = await deps
    .provider(rec.provider as ProviderName)
    .runScript(refOf(rec), script, { timeoutMs: ON_START_TIMEOUT_SECONDS * 1000, maxOutputBytes: 64 * 1024 });
  await keepOutput(
    deps.logs,
    { team: key.team, stackId: key.stackId, subject: { kind: "server", name: input.server } },
    "on_start",
    `${mask(result.output)}${result.truncated ? "\n[teamstack] ... output cut at 64 KiB ...\n" : ""}`,
    result.exitCode,
  );
  const output = mask(result.output).slice(-ON_START_OUTPUT_CHARS);
  await deps.store.appendEvent(key, {
    type: result.exitCode === 0 ? "OnStartRan" : "OnStartFailed",
    server: input.server,
    message: `${input.server}: on_start exited ${result.exitCode}${output.trim() ? `\n${output.trimEnd()}` : ""}`,
  });
  if (result.exitCode !== 0) {
    throw new OnStartFailedError(
      `on_start of ${input.server} exited with code ${result.exitCode}${output.trim() ? `\n${output.trimEnd()}` : ""}`,
    );
  }
}

/**
 * MarkPowerFailed: records why a server was not stopped or started (its status stays as it was),
 * and fails the on_start waits of the servers depending on it.
 */
export async function markPowerFailed(
  deps: Pick<PipelineDeps, "store" | "tokens" | "secrets">,
  input: ServerInput & {
    readonly action: PowerAction;
    readonly error: { readonly Error: string; readonly Cause: string };
  },
): Promise<void> {
  const key = keyOf(input);
  const skipped = input.error.Error === ERROR_NAMES.DependencyFailedError;
  const before = await deps.store.getServer(key, input.server);
  const { mask } = await runSecrets(deps.secrets, key.team, before?.context);
  const reason = mask(
    input.error.Error === "States.Timeout"
      ? `not ${input.action === "stop" ? "stopped" : "started"} in time`
      : causeMessage(input.error.Cause),
  );
  const rec = await deps.store.updateServer(key, input.server, { error: reason, waitToken: undefined });
  await deps.store.appendEvent(key, {
    type: input.action === "stop" ? "ServerStopFailed" : "ServerStartFailed",
    server: input.server,
    message: `${input.server}: ${skipped ? "" : `${input.action} failed: `}${reason}`,
  });
  if (input.action !== "start") return;
  await Promise.all(
    rec.dependents.map(async (d) => {
      const after = await deps.store.setFailedDep(key, d, input.run, input.server);
      if (after.release) {
        await deps.tokens.sendFailure(
          after.release.token,
          ERROR_NAMES.DependencyFailedError,
          `on_start not run: dependency \`${input.server}\` did not start`,
        );
      }
    }),
  );
}

/**
 * FinishPower: every live server is stopped (or started); the stack is STOPPED (or SUCCEEDED),
 * its auto_stop set again after a start, `Stack Stopped` / `Stack Started` sent, the lock released.
 * @throws ServersFailedError naming the servers that were not.
 */
export async function finishPower(
  deps: Pick<PipelineDeps, "store" | "events" | "now" | "schedules">,
  input: RunInput & { readonly execution: string; readonly action: PowerAction },
): Promise<{ status: string }> {
  const key = keyOf(input);
  const servers = liveServers(await deps.store.listServers(key));
  const want = input.action === "stop" ? "STOPPED" : "SUCCEEDED";
  const bad = inTemplateOrder(servers).filter((s) => s.status !== want);
  if (bad.length > 0) {
    throw new ServersFailedError(serversLeft(bad, input.action === "stop" ? "not stopped" : "not started"));
  }
  const stack = await getStack(deps, key);
  if (stack.lock?.execution !== input.execution) return { status: stack.status };
  const status = input.action === "stop" ? "STOPPED" : "SUCCEEDED";
  const at = iso(deps);
  // auto_stop again after a start (none while stopped), written before the status.
  await recordExpiry(deps, stack, input.action === "start");
  await deps.store.updateStack(key, {
    status,
    finishedAt: at,
    error: undefined,
    ...(input.action === "stop" ? { stoppedAt: at } : {}),
  });
  await deps.store.appendEvent(key, {
    type: input.action === "stop" ? "StackStopped" : "StackStarted",
    message: `run ${input.run}: stack ${input.action === "stop" ? "stopped" : "started"}`,
  });
  const artifacts: Record<string, unknown> = stackArtifacts(stack);
  for (const s of servers) if (s.artifacts) artifacts[s.name] = { ...s.artifacts };
  await deps.events.publish({
    id: `${key.stackId}:${input.run}:${input.action === "stop" ? "stopped" : "started"}`,
    source: EVENT_SOURCE,
    detailType: input.action === "stop" ? "Stack Stopped" : "Stack Started",
    time: at,
    detail: {
      team: key.team,
      stackId: key.stackId,
      member: stack.member,
      run: input.run,
      ...(input.action === "start" ? { artifacts } : {}),
    },
  });
  await deps.store.releaseLock(key, input.execution);
  return { status };
}

/** OnPowerFailure: the stack is FAILED with the error, `Stack Failed` sent, the lock released. */
export async function onPowerFailure(
  deps: Pick<PipelineDeps, "store" | "events" | "now">,
  input: StackKey & {
    readonly execution: string;
    readonly action: PowerAction;
    readonly error: { readonly Error: string; readonly Cause: string };
  },
): Promise<void> {
  const key = keyOf(input);
  const stack = await deps.store.getStack(key);
  if (!stack || stack.lock?.execution !== input.execution) return;
  const reason = causeMessage(input.error.Cause);
  await deps.events.publish({
    id: `${key.stackId}:${stack.lock.run}:failed`,
    source: EVENT_SOURCE,
    detailType: "Stack Failed",
    time: iso(deps),
    detail: {
      team: key.team,
      stackId: key.stackId,
      member: stack.member,
      run: stack.lock.run,
      action: input.action,
      error: reason,
    },
  });
  await deps.store.updateStack(key, { status: "FAILED", finishedAt: iso(deps), error: reason });
  await deps.store.appendEvent(key, {
    type: "StackFailed",
    message: `run ${stack.lock.run}: ${input.action} failed: ${reason}`,
  });
  await deps.store.releaseLock(key, input.execution);
}
