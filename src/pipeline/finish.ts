import type { ProviderName } from "../core/template.ts";
import type { RunContext, StackKey, StackRecord } from "../ports/store.ts";
import { causeMessage, getStack, iso, keyOf, type PipelineDeps, stackArtifacts } from "./context.ts";
import { StackFailedError, TemplateInvalidError } from "./errors.ts";
import { clearExpiry, recordExpiry } from "./expiry.ts";
import { destroyed } from "./offboard.ts";
import { lock, type ProvisionPlan, type RunInput, type RunSpecs, startRun } from "./run.ts";
import { refOf } from "./servers.ts";

/** How a run ends: Finalize, OnFailure, and RunFailed (which a console Redrive resumes). */

/** The `source` of teamstack's outbound events. */
export const EVENT_SOURCE = "teamstack.stacks";

/** Stack artifacts and each server's artifacts: what a Stack Provisioned event carries. */
async function publicArtifacts(
  deps: Pick<PipelineDeps, "store">,
  key: StackKey,
  stack: StackRecord,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = stackArtifacts(stack);
  for (const s of await deps.store.listServers(key)) if (s.artifacts) out[s.name] = { ...s.artifacts };
  return out;
}

/** Finalize: the stack is provisioned (or destroyed); stack artifacts stored; lock released. */
export async function finalize(
  deps: Pick<PipelineDeps, "store" | "events" | "now" | "schedules">,
  input: RunInput & { readonly execution: string; readonly mode?: "provision" | "destroy" },
): Promise<{ status: string }> {
  const key = keyOf(input);
  const stack = await getStack(deps, key);
  const status = input.mode === "destroy" ? "DESTROYED" : "SUCCEEDED";
  if (status === "SUCCEEDED") await deps.store.putArtifacts(key, stackArtifacts(stack));
  // ttl and auto_stop (expiry.ts): set after a provision, gone with the stack; written before the
  // status, so that whoever sees SUCCEEDED sees them too.
  if (status === "SUCCEEDED") await recordExpiry(deps, stack, true);
  else await clearExpiry(deps, stack);
  await deps.store.updateStack(key, { status, finishedAt: iso(deps), error: undefined });
  await deps.store.appendEvent(key, {
    type: status === "SUCCEEDED" ? "StackProvisioned" : "StackDestroyed",
    message: `run ${input.run}: stack ${status === "SUCCEEDED" ? "provisioned" : "destroyed"}`,
  });
  if (status === "DESTROYED") await destroyed(deps, key, stack, input.run);
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

/**
 * OnFailure: applies on_failure (as Prepare recorded it), marks the stack FAILED, releases the
 * lock. A run whose Prepare failed recorded nothing, and created nothing to roll back.
 */
export async function onFailure(
  deps: Pick<PipelineDeps, "store" | "provider" | "events" | "now" | "schedules">,
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
  if (holds && input.mode !== "destroy" && stack.settings?.onFailure === "rollback") {
    const created = (await deps.store.listServers(key)).filter(
      (s) =>
        s.createdRun === stack.run && s.status !== "DESTROYED" && (s.artifacts?.Id || s.idempotencyToken),
    );
    await Promise.all(
      created.map(async (s) => {
        await deps.provider(s.provider as ProviderName).destroy(refOf(s));
        await deps.store.updateServer(key, s.name, { status: "DESTROYED" });
      }),
    );
    await deps.store.appendEvent(key, {
      type: "RolledBack",
      message: `rolled back ${created.length} server${created.length === 1 ? "" : "s"} this run created`,
    });
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
    // A failed stack still expires (ttl); it is not stopped on a timer (auto_stop needs a started
    // stack). Written before the status, as Finalize does.
    if (input.mode !== "destroy") await recordExpiry(deps, stack, false);
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
 * The run a redrive starts, from the records the failed run left: every server's and hook's
 * compiled spec, the settings Prepare recorded on the stack.
 * @throws TemplateInvalidError when a record has no spec (written before specs were stored).
 */
async function storedRun(deps: Pick<PipelineDeps, "store">, stack: StackRecord): Promise<RunSpecs> {
  const key = keyOf(stack);
  const [all, hooks] = await Promise.all([deps.store.listServers(key), deps.store.listHooks(key)]);
  // Servers an update removes are not the template's: startRun removes them again.
  const servers = all.filter((s) => !s.removed);
  const context: RunContext | undefined = [...servers, ...hooks].find((r) => r.context)?.context;
  const unready = servers.filter((s) => !s.spec).map((s) => s.name);
  const pendingHooks = hooks.filter((h) => h.status !== "SUCCEEDED");
  const hookSpecs = pendingHooks.flatMap((h) =>
    h.spec ? [{ phase: h.phase, index: h.index, spec: h.spec }] : [],
  );
  if (!stack.settings || !context || unready.length > 0 || hookSpecs.length < pendingHooks.length) {
    throw new TemplateInvalidError(
      `stack \`${stack.stackId}\` cannot be redriven: its records hold no compiled specs${unready.length > 0 ? ` (${unready.join(", ")})` : ""}; rerun it instead`,
    );
  }
  return {
    servers: servers
      .flatMap((s) => (s.spec ? [{ name: s.name, spec: s.spec, provider: s.provider }] : []))
      .sort((a, b) => a.spec.order - b.spec.order),
    hooks: hookSpecs,
    settings: stack.settings,
    context,
  };
}

/**
 * RunFailed: ends a failed execution with StackFailedError. When Step Functions redrives that
 * execution it restarts here; the second pass takes the lock again for a new run and plans it
 * from the stored records (not the template), so the hooks and servers that did not succeed run
 * again and reconcile with what exists.
 */
export async function resume(
  deps: Pick<PipelineDeps, "store" | "executions" | "now">,
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
  // Read first: a stack that cannot be redriven is refused before it is locked.
  const specs = await storedRun(deps, stack);
  const run = await lock(deps, { ...key, execution: input.execution });
  return startRun(deps, await getStack(deps, key), run, specs);
}
