/**
 * Rollouts: updating every stack of a template to a new version in waves. This is the pure part:
 * how stacks are put into waves, and, given where each stack is, what to do next. The runner
 * (src/api/rollouts.ts) reads the records, asks {@link nextRolloutStep}, and acts.
 *
 * The rules, precisely:
 * - Stacks are ordered once, when the rollout starts; the first `canary` of them are wave 0 (the
 *   canary), the rest are cut into waves of `batch`. With `canary: 0` the first wave is a batch.
 * - A wave starts only when every stack of every earlier wave has finished (SUCCEEDED, FAILED or
 *   SKIPPED). All stacks of a wave start together.
 * - After each wave finishes, the rollout stops when:
 *   - that wave is the canary and any canary stack FAILED (the canary must fully succeed, whatever
 *     `max_failed_percent` says), or
 *   - the failed stacks are more than `max_failed_percent` percent of the stacks attempted so far
 *     (SUCCEEDED + FAILED in the waves finished; SKIPPED stacks were not attempted and count in
 *     neither). "More than": with 10, one failure in ten attempted stacks continues, two stop; with
 *     0, any failure stops; with 100, only a canary failure stops.
 * - A stopped rollout starts nothing more; its stacks not started are left as they are (SKIPPED).
 * - When every wave has finished without a stop, the rollout SUCCEEDED (stacks may have failed
 *   within the threshold: its counts say how many).
 */

export const ROLLOUT_STATES = ["RUNNING", "SUCCEEDED", "STOPPED"] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export const ROLLOUT_STACK_STATES = ["PENDING", "UPDATING", "SUCCEEDED", "FAILED", "SKIPPED"] as const;
export type RolloutStackState = (typeof ROLLOUT_STACK_STATES)[number];

/** A rollout's wave settings, as the API takes them (`canary`, `batch`, `max_failed_percent`). */
export interface RolloutSettings {
  /** Stacks in the canary wave (0: none). */
  readonly canary: number;
  /** Stacks per wave after the canary (at least 1). */
  readonly batch: number;
  /** The rollout stops once failures are more than this percent of the stacks attempted (0 to 100). */
  readonly maxFailedPercent: number;
}

/** The defaults: one canary, waves of five, and no failure tolerated. */
export const DEFAULT_ROLLOUT_SETTINGS: RolloutSettings = { canary: 1, batch: 5, maxFailedPercent: 0 };

/** Where one stack of a rollout is, as the wave logic needs it. */
export interface RolloutStackView {
  readonly stackId: string;
  readonly wave: number;
  readonly state: RolloutStackState;
}

/** What to do next. */
export type RolloutStep =
  /** Start these stacks' updates now (the current wave's PENDING stacks). */
  | { readonly kind: "start"; readonly wave: number; readonly stackIds: readonly string[] }
  /** The current wave still has updates running: wait for them to end. */
  | { readonly kind: "wait"; readonly wave: number }
  /** The rollout is over. */
  | { readonly kind: "finish"; readonly state: "SUCCEEDED" | "STOPPED"; readonly reason: string };

/**
 * The wave of each of `count` stacks, in order: `canary` stacks in wave 0, then waves of `batch`.
 * @throws RangeError for a negative canary or a batch below 1.
 */
export function assignWaves(count: number, settings: Pick<RolloutSettings, "canary" | "batch">): number[] {
  const { canary, batch } = settings;
  if (!Number.isInteger(canary) || canary < 0)
    throw new RangeError(`canary: expected 0 or more, found ${canary}`);
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`batch: expected 1 or more, found ${batch}`);
  const first = canary > 0 ? 1 : 0;
  return Array.from({ length: count }, (_, i) => (i < canary ? 0 : first + Math.floor((i - canary) / batch)));
}

/** Whether wave `wave` is the canary under these settings. */
export function isCanaryWave(wave: number, settings: Pick<RolloutSettings, "canary">): boolean {
  return wave === 0 && settings.canary > 0;
}

/** Stacks per state. */
export function rolloutCounts(
  stacks: readonly Pick<RolloutStackView, "state">[],
): Record<RolloutStackState, number> {
  const counts = Object.fromEntries(ROLLOUT_STACK_STATES.map((s) => [s, 0])) as Record<
    RolloutStackState,
    number
  >;
  for (const s of stacks) counts[s.state]++;
  return counts;
}

/** Whether `failed` of `attempted` stacks is more than `maxFailedPercent` percent (exact, no rounding). */
export function passesThreshold(failed: number, attempted: number, maxFailedPercent: number): boolean {
  return attempted > 0 && failed * 100 > maxFailedPercent * attempted;
}

const finished = (state: RolloutStackState) =>
  state === "SUCCEEDED" || state === "FAILED" || state === "SKIPPED";

/**
 * What a running rollout does next, from its settings and every stack's state (see the rules at
 * the top of this file). Deterministic and idempotent: asked again with the same states, it answers
 * the same, so duplicate triggers start nothing twice (the runner's conditional writes on each
 * stack's state do the rest).
 */
export function nextRolloutStep(settings: RolloutSettings, stacks: readonly RolloutStackView[]): RolloutStep {
  const waves = [...new Set(stacks.map((s) => s.wave))].sort((a, b) => a - b);
  let attempted = 0;
  let failed = 0;
  for (const wave of waves) {
    const members = stacks.filter((s) => s.wave === wave);
    const pending = members.filter((s) => s.state === "PENDING").map((s) => s.stackId);
    if (pending.length > 0) return { kind: "start", wave, stackIds: pending };
    if (!members.every((s) => finished(s.state))) return { kind: "wait", wave };
    const waveFailed = members.filter((s) => s.state === "FAILED");
    attempted += members.filter((s) => s.state === "SUCCEEDED").length + waveFailed.length;
    failed += waveFailed.length;
    if (isCanaryWave(wave, settings) && waveFailed.length > 0) {
      return {
        kind: "finish",
        state: "STOPPED",
        reason: `the canary failed (${waveFailed.map((s) => s.stackId).join(", ")}); the rest were left as they are`,
      };
    }
    if (passesThreshold(failed, attempted, settings.maxFailedPercent)) {
      return {
        kind: "finish",
        state: "STOPPED",
        reason: `${failed} of ${attempted} stacks attempted failed (${formatPercent(failed, attempted)}), more than max_failed_percent ${settings.maxFailedPercent}%; the rest were left as they are`,
      };
    }
  }
  const skipped = stacks.filter((s) => s.state === "SKIPPED").length;
  return {
    kind: "finish",
    state: "SUCCEEDED",
    reason:
      stacks.length === 0
        ? "no stack was behind the target version"
        : `${attempted - failed} of ${stacks.length} stacks updated${failed > 0 ? `, ${failed} failed (within max_failed_percent ${settings.maxFailedPercent}%)` : ""}${skipped > 0 ? `, ${skipped} skipped` : ""}`,
  };
}

function formatPercent(part: number, whole: number): string {
  const p = (part * 100) / whole;
  return `${Number.isInteger(p) ? p : p.toFixed(1)}%`;
}
