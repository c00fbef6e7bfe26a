import type { CompiledHook } from "./compiled.ts";
import type { HookPhase, HookType } from "./template.ts";

/**
 * Undo steps: what destroying a stack does to take back what its hooks did outside it. Pure.
 *
 * A hook type is undoable when the hook runner knows its inverse (src/hooks/runner.ts,
 * UNDO_HOOKS): `add_github_user` is undone by removing the team membership. Each pre or post
 * hook of an undoable type, unless the template says `undo: false`, gets one undo step, compiled
 * from the hook's own record (its compiled params: the same org, team and user). Steps run in the
 * reverse order of the hooks they undo (post hooks last to first, then pre hooks), as a stack is
 * taken down in the reverse order it was built. A step's index is its place in that list, which
 * only depends on the hooks' specs, so a rerun of destroy finds each step where it left it.
 */

/** Hook types whose effect destroying a stack undoes. */
export const UNDOABLE_HOOKS: readonly HookType[] = ["add_github_user"];

/** A hook as its record holds it: its place and its compiled spec. */
export interface RecordedHookSpec {
  readonly phase: HookPhase;
  readonly index: number;
  readonly spec: CompiledHook;
}

/** One undo step: phase `undo`, its index, and the spec it runs (the undone hook's, marked). */
export interface UndoStep {
  readonly phase: "undo";
  readonly index: number;
  readonly spec: CompiledHook;
}

/**
 * The undo steps of a stack's hooks, in the order they run. A step's spec is the undone hook's
 * with `undoes` naming it, and `continueOnError`: a failing undo is recorded and the servers are
 * destroyed all the same (the stack then ends FAILED naming it; see src/pipeline/destroy-hooks.ts).
 */
export function undoSteps(hooks: readonly RecordedHookSpec[]): UndoStep[] {
  const rank = (phase: HookPhase) => (phase === "post" ? 0 : 1);
  return hooks
    .filter(
      (h): h is RecordedHookSpec & { phase: "pre" | "post" } =>
        (h.phase === "pre" || h.phase === "post") &&
        UNDOABLE_HOOKS.includes(h.spec.type) &&
        h.spec.undo !== false,
    )
    .sort((a, b) => rank(a.phase) - rank(b.phase) || b.index - a.index)
    .map((h, index) => {
      const { undo: _undo, undoes: _undoes, ...spec } = h.spec;
      return {
        phase: "undo",
        index,
        spec: { ...spec, continueOnError: true, undoes: { phase: h.phase, index: h.index } },
      };
    });
}
