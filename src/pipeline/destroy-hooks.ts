import type { CompiledHook } from "../core/compiled.ts";
import type { HookPhase } from "../core/template.ts";
import { undoSteps } from "../core/undo.ts";
import type { HookRecord, StackKey } from "../ports/store.ts";
import { iso, keyOf, type PipelineDeps } from "./context.ts";
import type { HookInput } from "./run.ts";

/**
 * What the destroy machine does before it destroys a stack's servers: the template's
 * `destroy_hooks` (in order, each following its continue_on_error, as post_hooks do), then the undo
 * steps of the hooks that changed something outside the stack (src/core/undo.ts: add_github_user's
 * team membership is removed). Both run through RunHook, one at a time, and are recorded as hook
 * records (phases `destroy` and `undo`) with their status and output.
 *
 * Everything is read from records: the destroy hooks' compiled specs were written at provision
 * time by Prepare, and undo steps are compiled here from the records of the hooks they undo. A
 * rerun of destroy runs again only what did not succeed: an undo that removed the membership is
 * not repeated.
 *
 * A failing undo does not keep the servers: they are destroyed, and the stack then ends FAILED,
 * naming the undo (CheckDestroyed). FAILED rather than DESTROYED with a warning, because what the
 * undo failed to take back is usually access (the member is still in the GitHub team), which a
 * status nobody looks at again would hide; FAILED keeps the stack in `list --status FAILED`, out
 * of the 30-day expiry, and `down` again retries only the undo (the servers are already gone).
 */

/** A hook's place as people write it: `pre_hooks[0]`, `destroy_hooks[1]`, `undo[0]`. */
export function hookLabel(phase: HookPhase, index: number): string {
  return phase === "undo" ? `undo[${index}]` : `${phase}_hooks[${index}]`;
}

/** ` (undoing pre_hooks[0])` for an undo step's spec, else nothing. */
export function undoneLabel(spec: CompiledHook): string {
  return spec.undoes ? ` (undoing ${hookLabel(spec.undoes.phase, spec.undoes.index)})` : "";
}

/** The destroy run's hooks: destroy hooks and undo steps to run, by index, in order. */
export interface DestroyHooksPlan {
  readonly destroyHooks: number[];
  readonly undo: number[];
}

/**
 * Prepares the destroy run's hooks: every destroy hook that has not succeeded, and every undo step
 * (compiled from the stack's pre and post hook records) that has not succeeded, gets a PENDING
 * record for `run`. Returns the indices the destroy machine's Maps run.
 */
export async function planDestroyHooks(
  deps: Pick<PipelineDeps, "store">,
  key: StackKey,
  run: number,
): Promise<DestroyHooksPlan> {
  const hooks = await deps.store.listHooks(key);
  const context = hooks.find((h) => h.context)?.context;
  const pending = (h: { phase: HookPhase; index: number; spec: CompiledHook }): HookRecord => ({
    ...keyOf(key),
    phase: h.phase,
    index: h.index,
    type: h.spec.type,
    status: "PENDING",
    run,
    spec: h.spec,
    ...(context ? { context } : {}),
  });
  const destroy = hooks.filter((h) => h.phase === "destroy" && h.spec && h.status !== "SUCCEEDED");
  const undone = new Map(
    hooks.filter((h) => h.phase === "undo" && h.status === "SUCCEEDED").map((h) => [h.index, h.spec?.undoes]),
  );
  const steps = undoSteps(
    hooks.flatMap((h) => (h.spec ? [{ phase: h.phase, index: h.index, spec: h.spec }] : [])),
  ).filter((s) => {
    const done = undone.get(s.index);
    return !(done && done.phase === s.spec.undoes?.phase && done.index === s.spec.undoes.index);
  });
  const records = [
    ...destroy.map((h) => pending({ phase: h.phase, index: h.index, spec: h.spec as CompiledHook })),
    ...steps.map(pending),
  ];
  await Promise.all(records.map((r) => deps.store.putHook(r)));
  return { destroyHooks: destroy.map((h) => h.index), undo: steps.map((s) => s.index) };
}

/**
 * For RunHook: an undo step whose hook never succeeded (skipped for a missing token, failed, never
 * run) has nothing to undo; it is recorded SKIPPED, saying so. Returns whether it was.
 */
export async function skipUndo(
  deps: Pick<PipelineDeps, "store" | "now">,
  input: HookInput,
  spec: CompiledHook,
  hooks: readonly HookRecord[],
): Promise<boolean> {
  if (input.phase !== "undo" || !spec.undoes) return false;
  const { phase, index } = spec.undoes;
  const original = hooks.find((h) => h.phase === phase && h.index === index);
  if (original?.status === "SUCCEEDED") return false;
  const key = keyOf(input);
  const why = `nothing to undo: ${hookLabel(phase, index)} ${original ? `ended ${original.status}` : "never ran"}`;
  const at = iso(deps);
  await deps.store.putHook({
    ...key,
    phase: "undo",
    index: input.index,
    type: spec.type,
    status: "SKIPPED",
    run: input.run,
    spec,
    ...(original?.context ? { context: original.context } : {}),
    startedAt: at,
    finishedAt: at,
    error: why,
  });
  await deps.store.appendEvent(key, {
    type: "HookFinished",
    message: `${hookLabel("undo", input.index)} ${spec.type}${undoneLabel(spec)}: skipped (${why})`,
  });
  return true;
}

/**
 * For CheckDestroyed: what the run's undo steps left undone (each FAILED or unfinished one, with
 * its error), or undefined when every one succeeded or had nothing to undo.
 */
export async function undoneSteps(
  deps: Pick<PipelineDeps, "store">,
  key: StackKey,
  run: number,
): Promise<string | undefined> {
  const left = (await deps.store.listHooks(key)).filter(
    (h) => h.phase === "undo" && h.run === run && h.status !== "SUCCEEDED" && h.status !== "SKIPPED",
  );
  if (left.length === 0) return undefined;
  return left
    .map(
      (h) =>
        `${hookLabel("undo", h.index)} ${h.type}${h.spec ? undoneLabel(h.spec) : ""} ${h.status === "FAILED" ? `failed: ${h.error ?? "no reason given"}` : "did not finish"}`,
    )
    .join("; ");
}
