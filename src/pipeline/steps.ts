import { serverDependencies } from "../core/graph.ts";
import { maskValue } from "../core/mask.ts";
import { planTemplate } from "../core/plan.ts";
import { renderText, renderValue } from "../core/render.ts";
import type { ServerRef } from "../ports/provider.ts";
import type { ServerRecord, StackKey, StackRecord, WaitRelease } from "../ports/store.ts";
import {
  getStack,
  iso,
  type PipelineDeps,
  providerOf,
  renderData,
  serverSpec,
  stackArtifacts,
  stackSecrets,
  stackTemplate,
} from "./context.ts";
import { type DestroyPlan, prepareDestroy } from "./destroy.ts";
import {
  HookFailedError,
  HookRetryableError,
  ProviderFailedError,
  ServersFailedError,
  StackFailedError,
  StackLockedError,
  UserDataFailedError,
} from "./errors.ts";

/**
 * The task functions of the state machines, one per Task state, over the ports. Each is safe to
 * run again with the same input (Retry, redrive, a rerun after a crash): it converges and never
 * creates twice. Lambda handlers and the local runtime call these same functions.
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

export interface ProvisionPlan {
  readonly run: number;
  /** Servers this run creates, in topological order (the Map's items). */
  readonly servers: string[];
  readonly preHooks: number[];
  readonly postHooks: number[];
  readonly maxParallel: number;
  readonly serverTimeout: number;
  readonly waitTimeout: number;
}

function keyOf(input: StackKey): StackKey {
  return { team: input.team, stackId: input.stackId };
}

/** Takes the stack's lock for this execution (again, on a retry), or says who holds it. */
async function lock(deps: PipelineDeps, input: StackInput): Promise<number> {
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

/** Prepare: lock, load, validate, plan, record the run; returns the Map items and limits. */
export async function prepare(deps: PipelineDeps, input: StackInput): Promise<ProvisionPlan | DestroyPlan> {
  const key = keyOf(input);
  const run = await lock(deps, input);
  if (input.mode === "destroy") return prepareDestroy(deps, { ...key, run });
  const stack = await getStack(deps, key);
  const template = stackTemplate(stack);
  const plan = planTemplate(template);
  const existing = new Map((await deps.store.listServers(key)).map((s) => [s.name, s]));
  // A rerun creates only what is missing: servers ready from an earlier run stay out of the Map.
  const todo = plan.order.filter((n) => existing.get(n)?.status !== "SUCCEEDED");
  const inRun = new Set(todo);
  const dependents = new Map<string, string[]>(todo.map((n) => [n, []]));
  const depsOf = new Map<string, string[]>();
  for (const spec of template.servers) {
    const ds = serverDependencies(spec);
    depsOf.set(spec.name, ds);
    for (const d of ds) if (inRun.has(spec.name) && inRun.has(d)) dependents.get(d)?.push(spec.name);
  }
  const records: ServerRecord[] = [];
  for (const name of todo) {
    const spec = serverSpec(template, name);
    const before = existing.get(name);
    const all = depsOf.get(name) ?? [];
    const record: ServerRecord = {
      ...key,
      name,
      provider: providerOf(stack, spec),
      type: spec.type,
      status: "PENDING",
      deps: all,
      pending: all.filter((d) => inRun.has(d)),
      dependents: dependents.get(name) ?? [],
      run,
      attempt: before?.attempt ?? 0,
      ...(before?.idempotencyToken ? { idempotencyToken: before.idempotencyToken } : {}),
      ...(before?.createdRun !== undefined ? { createdRun: before.createdRun } : {}),
      ...(before?.artifacts ? { artifacts: before.artifacts } : {}),
      ...(before?.status === "FAILED" ? { error: before.error } : {}),
    };
    // A server that failed keeps its status until CreateServer replaces it, so rollback and
    // create know the old one exists.
    records.push(
      before?.status === "FAILED" || before?.status === "CREATING"
        ? { ...record, status: before.status }
        : record,
    );
  }
  // Written a few at a time: a 1,000-server stack is prepared in well under a second.
  for (let i = 0; i < records.length; i += 25) {
    await Promise.all(records.slice(i, i + 25).map((r) => deps.store.putServer(r)));
  }
  // A rerun runs again, in order, every hook that did not succeed: one SKIPPED for a secret the
  // team has since set, one that FAILED (with continue_on_error, or before the run failed).
  const hooks = await deps.store.listHooks(key);
  const done = (phase: "pre" | "post", i: number) =>
    hooks.some((h) => h.phase === phase && h.index === i && h.status === "SUCCEEDED");
  await deps.store.updateStack(key, {
    status: "RUNNING",
    run,
    startedAt: iso(deps),
    finishedAt: undefined,
    error: undefined,
  });
  await deps.store.appendEvent(key, {
    type: "RunStarted",
    message: `run ${run}: ${todo.length} of ${plan.order.length} servers to create`,
  });
  const serverTimeout = template.settings.serverTimeoutSeconds;
  return {
    run,
    servers: todo,
    preHooks: template.preHooks.map((h) => h.index).filter((i) => !done("pre", i)),
    postHooks: template.postHooks.map((h) => h.index).filter((i) => !done("post", i)),
    maxParallel: template.settings.maxParallel,
    serverTimeout,
    // A server waits at most for the longest chain before it to be created.
    waitTimeout: Math.min(serverTimeout * Math.max(plan.levels.length, 1) + 300, 31_536_000),
  };
}

/** Sends a parked wait token back; the store tells exactly one caller to. */
async function release(deps: PipelineDeps, r: WaitRelease, server: string): Promise<void> {
  if (r.outcome === "success") await deps.tokens.sendSuccess(r.token, { server });
  else
    await deps.tokens.sendFailure(
      r.token,
      "DependencyFailedError",
      `skipped: dependency \`${r.failedDep}\` did not become ready`,
    );
}

/**
 * WaitForDependencies: parks the token on the server's record. Whoever completes "no pending
 * dependency and a token present" sends the token back, this task or the last dependency's
 * PublishArtifacts; sending twice is harmless.
 */
export async function waitForDependencies(deps: PipelineDeps, input: TokenInput): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.setWaitToken(key, input.server, input.run, input.token);
  if (rec.run !== input.run) return;
  if (rec.release) {
    await release(deps, rec.release, input.server);
  } else {
    await deps.store.appendEvent(key, {
      type: "ServerWaiting",
      server: input.server,
      message: `${input.server} waits for ${rec.pending.join(", ")}`,
    });
  }
}

function refOf(rec: ServerRecord): ServerRef {
  return {
    team: rec.team,
    stackId: rec.stackId,
    server: rec.name,
    id: rec.artifacts?.Id ?? "",
    ...(rec.idempotencyToken ? { token: rec.idempotencyToken } : {}),
  };
}

/** CreateServer: records the idempotency token, then asks the provider; a retry finds the same server. */
export async function createServer(deps: PipelineDeps, input: ServerInput): Promise<void> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const template = stackTemplate(stack);
  let rec = await deps.store.getServer(key, input.server);
  if (!rec || rec.run !== input.run)
    throw new ProviderFailedError(`server \`${input.server}\` is not part of run ${input.run}`);
  if (rec.status === "SUCCEEDED") return;
  const spec = serverSpec(template, input.server);
  const provider = deps.provider(providerOf(stack, spec));
  // A server that failed in an earlier attempt is replaced, never kept beside the new one.
  if (
    rec.status === "FAILED" ||
    rec.status === "SKIPPED" ||
    rec.status === "DESTROYED" ||
    !rec.idempotencyToken
  ) {
    if (rec.status === "FAILED" && (rec.artifacts?.Id || rec.idempotencyToken))
      await provider.destroy(refOf(rec));
    const attempt = rec.attempt + 1;
    rec = await deps.store.updateServer(key, input.server, {
      status: "CREATING",
      attempt,
      idempotencyToken: `${key.stackId}.${input.server}.${attempt}`,
      artifacts: undefined,
      createdRun: input.run,
      startedAt: iso(deps),
      readyAt: undefined,
      error: undefined,
    });
  } else if (rec.status !== "CREATING") {
    rec = await deps.store.updateServer(key, input.server, {
      status: "CREATING",
      startedAt: iso(deps),
      error: undefined,
    });
  }
  await deps.store.appendEvent(key, {
    type: "ServerCreating",
    server: input.server,
    message: `${input.server}: creating`,
  });
  const depRecords = await Promise.all(rec.deps.map((d) => deps.store.getServer(key, d)));
  const secret = await stackSecrets(deps, stack, template);
  const data = renderData(
    template,
    stack,
    depRecords.filter((d): d is ServerRecord => d !== undefined),
    false,
    secret,
  );
  const userData = renderText(spec.userData, data);
  const artifacts = await provider.create({
    stackId: key.stackId,
    team: key.team,
    member: stack.member,
    server: input.server,
    type: spec.type,
    options: spec.options,
    userData,
    idempotencyToken: rec.idempotencyToken as string,
    secrets: Object.values(secret.userdata),
  });
  await deps.store.updateServer(key, input.server, { artifacts: { ...artifacts } });
}

/** WaitUntilReady: parks the token and has readiness (user_data finished) settle it. */
export async function waitUntilReady(deps: PipelineDeps, input: TokenInput): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.updateServer(key, input.server, { readyToken: input.token });
  const stack = await getStack(deps, key);
  // user_data's output may echo a secret: what settles the token masks it first.
  const { mask } = await stackSecrets(deps, stack, stackTemplate(stack));
  await deps.readiness.watch({ provider: rec.provider as never, ref: refOf(rec), token: input.token, mask });
}

/** PublishArtifacts: the server is ready; its dependents lose one pending dependency each. */
export async function publishArtifacts(deps: PipelineDeps, input: ServerInput): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.updateServer(key, input.server, {
    status: "SUCCEEDED",
    readyAt: iso(deps),
    readyToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: "ServerReady",
    server: input.server,
    message: `${input.server}: ready at ${rec.artifacts?.IP ?? "?"} (${rec.artifacts?.Id ?? "?"})`,
  });
  await Promise.all(
    rec.dependents.map(async (d) => {
      const after = await deps.store.removePending(key, d, input.run, input.server);
      if (after.release) await release(deps, after.release, d);
    }),
  );
}

export interface FailureInput extends ServerInput {
  readonly error: { readonly Error: string; readonly Cause: string };
}

/** Reads the message of a Catch `Cause`: plain locally, a JSON string from Lambda in AWS. */
export function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === "string") return parsed.errorMessage;
  } catch {
    // plain text
  }
  return cause;
}

/** MarkServerFailed: records why, and fails the waits of every server depending on this one. */
export async function markServerFailed(deps: PipelineDeps, input: FailureInput): Promise<void> {
  const key = keyOf(input);
  const skipped = input.error.Error === "DependencyFailedError";
  const stack = await getStack(deps, key);
  const { mask } = await stackSecrets(deps, stack, stackTemplate(stack));
  const reason = mask(
    input.error.Error === "States.Timeout"
      ? "did not become ready within server_timeout"
      : causeMessage(input.error.Cause),
  );
  const rec = await deps.store.updateServer(key, input.server, {
    status: skipped ? "SKIPPED" : "FAILED",
    error: reason,
    readyToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: skipped ? "ServerSkipped" : "ServerFailed",
    server: input.server,
    message: `${input.server}: ${reason}`,
  });
  await Promise.all(
    rec.dependents.map(async (d) => {
      const after = await deps.store.setFailedDep(key, d, input.run, input.server);
      if (after.release) await release(deps, after.release, d);
    }),
  );
}

/** CheckServers: every server of the template is ready, or the run fails naming those that are not. */
export async function checkServers(deps: PipelineDeps, input: RunInput): Promise<void> {
  const key = keyOf(input);
  const template = stackTemplate(await getStack(deps, key));
  const records = new Map((await deps.store.listServers(key)).map((s) => [s.name, s]));
  const bad = template.servers
    .map((s) => records.get(s.name))
    .filter((r) => r?.status !== "SUCCEEDED")
    .map((r) => `${r?.name ?? "?"} (${r?.status ?? "missing"}${r?.error ? `: ${r.error}` : ""})`);
  if (bad.length > 0) {
    throw new ServersFailedError(
      `${bad.length} server${bad.length === 1 ? "" : "s"} not ready: ${bad.join("; ")}`,
    );
  }
}

export interface HookInput extends RunInput {
  readonly phase: "pre" | "post";
  readonly index: number;
}

const MAX_HOOK_OUTPUT = 64 * 1024;

/** RunHook: renders the hook's params and runs it through the Hook port; records the outcome. */
export async function runHook(deps: PipelineDeps, input: HookInput): Promise<void> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const template = stackTemplate(stack);
  const spec = (input.phase === "pre" ? template.preHooks : template.postHooks)[input.index];
  if (!spec) throw new HookFailedError(`the template has no ${input.phase}_hooks[${input.index}]`);
  const servers = input.phase === "post" ? await deps.store.listServers(key) : [];
  const secret = await stackSecrets(deps, stack, template);
  const params = renderValue(
    spec.params,
    renderData(template, stack, servers, input.phase === "post", secret),
  ) as Record<string, unknown>;
  // Hooks run in order: one whose predecessor failed does not run (a Map may start the next
  // iteration before it sees the failure).
  const phaseHooks = input.phase === "pre" ? template.preHooks : template.postHooks;
  const earlier = (await deps.store.listHooks(key)).filter(
    (h) => h.phase === input.phase && h.index < input.index && h.run === input.run,
  );
  const blocker = earlier.find((h) => h.status === "FAILED" && !phaseHooks[h.index]?.continueOnError);
  if (blocker) {
    throw new HookFailedError(
      `${input.phase}_hooks[${input.index}] not run: ${input.phase}_hooks[${blocker.index}] failed`,
    );
  }
  const base = { ...key, phase: input.phase, index: input.index, type: spec.type, run: input.run };
  const startedAt = iso(deps);
  await deps.store.putHook({ ...base, status: "RUNNING", startedAt });
  const result = await deps.hooks.run({
    ...key,
    member: stack.member,
    type: spec.type,
    phase: input.phase,
    index: input.index,
    params,
    teamSecret: (name) => deps.secrets.get({ team: key.team }, name),
  });
  // Whatever the hook printed or the service answered is masked before it is stored or thrown.
  const masked = maskValue({ output: result.output, message: result.message }, secret.mask);
  const output =
    masked.output && masked.output.length > MAX_HOOK_OUTPUT
      ? masked.output.slice(-MAX_HOOK_OUTPUT)
      : masked.output;
  await deps.store.putHook({
    ...base,
    status: result.status,
    startedAt,
    finishedAt: iso(deps),
    ...(output !== undefined ? { output } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(masked.message !== undefined ? { error: masked.message } : {}),
  });
  const what = `${input.phase}_hooks[${input.index}] ${spec.type}`;
  await deps.store.appendEvent(key, {
    type: "HookFinished",
    message: `${what}: ${result.status.toLowerCase()}${masked.message ? ` (${masked.message})` : ""}`,
  });
  if (result.status !== "FAILED" || spec.continueOnError) return;
  const message = `${what} failed: ${masked.message ?? `exit code ${result.exitCode}`}`;
  throw result.retryable ? new HookRetryableError(message) : new HookFailedError(message);
}

/** The `source` of teamstack's outbound events. */
export const EVENT_SOURCE = "teamstack.stacks";

/** Stack artifacts and each server's artifacts: what a Stack Provisioned event carries. */
async function publicArtifacts(
  deps: PipelineDeps,
  key: StackKey,
  stack: StackRecord,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = stackArtifacts(stack);
  for (const s of await deps.store.listServers(key)) if (s.artifacts) out[s.name] = { ...s.artifacts };
  return out;
}

/** Finalize: the stack is provisioned (or destroyed); stack artifacts stored; lock released. */
export async function finalize(
  deps: PipelineDeps,
  input: RunInput & { readonly execution: string; readonly mode?: "provision" | "destroy" },
): Promise<{ status: string }> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const status = input.mode === "destroy" ? "DESTROYED" : "SUCCEEDED";
  if (status === "SUCCEEDED") await deps.store.putArtifacts(key, stackArtifacts(stack));
  await deps.store.updateStack(key, { status, finishedAt: iso(deps), error: undefined });
  await deps.store.appendEvent(key, {
    type: status === "SUCCEEDED" ? "StackProvisioned" : "StackDestroyed",
    message: `run ${input.run}: stack ${status === "SUCCEEDED" ? "provisioned" : "destroyed"}`,
  });
  if (status === "SUCCEEDED") {
    await deps.events.publish({
      id: `${key.stackId}:${input.run}:provisioned`,
      source: EVENT_SOURCE,
      detailType: "Stack Provisioned",
      time: iso(deps),
      detail: {
        team: key.team,
        stackId: key.stackId,
        member: stack.member,
        run: input.run,
        ...(stack.template ? { template: stack.template } : {}),
        artifacts: await publicArtifacts(deps, key, stack),
      },
    });
  }
  await deps.store.releaseLock(key, input.execution);
  return { status };
}

/** OnFailure: applies settings.on_failure, marks the stack FAILED, releases the lock. */
export async function onFailure(
  deps: PipelineDeps,
  input: StackKey & {
    readonly execution: string;
    readonly error: { readonly Error: string; readonly Cause: string };
    readonly mode?: "provision" | "destroy";
  },
): Promise<void> {
  const key = keyOf(input);
  const stack = await deps.store.getStack(key);
  if (!stack) return;
  const holds = stack.lock?.execution === input.execution;
  const reason = causeMessage(input.error.Cause);
  if (holds && input.mode !== "destroy") {
    let rollback = false;
    try {
      rollback = stackTemplate(stack).settings.onFailure === "rollback";
    } catch {
      // An invalid template created nothing to roll back.
    }
    if (rollback) {
      const created = (await deps.store.listServers(key)).filter(
        (s) =>
          s.createdRun === stack.run && s.status !== "DESTROYED" && (s.artifacts?.Id || s.idempotencyToken),
      );
      await Promise.all(
        created.map(async (s) => {
          await deps.provider(s.provider as never).destroy(refOf(s));
          await deps.store.updateServer(key, s.name, { status: "DESTROYED" });
        }),
      );
      await deps.store.appendEvent(key, {
        type: "RolledBack",
        message: `rolled back ${created.length} server${created.length === 1 ? "" : "s"} this run created`,
      });
    }
  }
  if (holds) {
    if (input.mode !== "destroy") {
      await deps.events.publish({
        id: `${key.stackId}:${stack.lock?.run}:failed`,
        source: EVENT_SOURCE,
        detailType: "Stack Failed",
        time: iso(deps),
        detail: {
          team: key.team,
          stackId: key.stackId,
          member: stack.member,
          run: stack.lock?.run ?? stack.run,
          ...(stack.template ? { template: stack.template } : {}),
          error: reason,
        },
      });
    }
    await deps.store.updateStack(key, {
      status: "FAILED",
      finishedAt: iso(deps),
      error: reason,
      ...(input.mode !== "destroy" ? { redrive: { execution: input.execution, armed: false } } : {}),
    });
    await deps.store.appendEvent(key, { type: "StackFailed", message: `run ${stack.lock?.run}: ${reason}` });
    await deps.store.releaseLock(key, input.execution);
  }
}

/**
 * RunFailed: ends a failed execution with StackFailedError. When Step Functions redrives that
 * execution it restarts here; the second pass takes the lock again for a new run and returns a
 * fresh plan, so the hooks and servers run again and reconcile with what exists.
 */
export async function resume(
  deps: PipelineDeps,
  input: StackKey & {
    readonly execution: string;
    readonly error: { readonly Error: string; readonly Cause: string };
  },
): Promise<ProvisionPlan> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const failure = new StackFailedError(`${input.error.Error}: ${causeMessage(input.error.Cause)}`);
  if (stack.redrive?.execution !== input.execution) throw failure;
  if (!stack.redrive.armed) {
    await deps.store.updateStack(key, { redrive: { execution: input.execution, armed: true } });
    throw failure;
  }
  await deps.store.updateStack(key, { redrive: undefined });
  await deps.store.appendEvent(key, { type: "Redriven", message: `execution ${input.execution} redriven` });
  return (await prepare(deps, { ...key, execution: input.execution })) as ProvisionPlan;
}

/** DestroyServer: the provider destroys it (a server already gone is fine). */
export async function destroyServer(deps: PipelineDeps, input: ServerInput): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.getServer(key, input.server);
  if (!rec || rec.status === "DESTROYED") return;
  if (rec.artifacts?.Id || rec.idempotencyToken) {
    await deps.provider(rec.provider as never).destroy(refOf(rec));
  }
  await deps.store.updateServer(key, input.server, {
    status: "DESTROYED",
    readyToken: undefined,
    waitToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: "ServerDestroyed",
    server: input.server,
    message: `${input.server}: destroyed`,
  });
}

/** The readiness of a server settles its WaitUntilReady token (used by the local watcher). */
export async function settleReadiness(
  deps: PipelineDeps,
  token: string,
  result: { ready: true } | { ready: false; reason: string; exitCode?: number; output?: string },
  mask: (text: string) => string = (t) => t,
): Promise<void> {
  if (result.ready) await deps.tokens.sendSuccess(token, {});
  else {
    const tail = result.output ? `\n${mask(result.output.slice(-2000))}` : "";
    await deps.tokens.sendFailure(
      token,
      new UserDataFailedError(result.reason).name,
      `${mask(result.reason)}${result.exitCode !== undefined ? ` (exit code ${result.exitCode})` : ""}${tail}`,
    );
  }
}
