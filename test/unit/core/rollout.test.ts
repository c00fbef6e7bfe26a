import { describe, expect, it } from "vitest";
import {
  assignWaves,
  nextRolloutStep,
  passesThreshold,
  type RolloutSettings,
  type RolloutStackState,
  type RolloutStackView,
  rolloutCounts,
} from "../../../src/core/rollout.ts";

// The wave logic of rollouts: which stacks start, when a rollout waits, and when it stops.

/** `count` stacks s1.. in waves under `settings`, each in the state `states` gives it (default PENDING). */
function stacks(
  count: number,
  settings: RolloutSettings,
  states: Readonly<Record<number, RolloutStackState>> = {},
): RolloutStackView[] {
  const waves = assignWaves(count, settings);
  return waves.map((wave, i) => ({ stackId: `s${i + 1}`, wave, state: states[i + 1] ?? "PENDING" }));
}

/** States 1..n set to `state`. */
function first(n: number, state: RolloutStackState): Record<number, RolloutStackState> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [i + 1, state]));
}

const S = { canary: 1, batch: 5, maxFailedPercent: 10 } as const;

describe("assignWaves", () => {
  it("puts the canary in wave 0 and cuts the rest into batches", () => {
    expect(assignWaves(12, { canary: 1, batch: 5 })).toEqual([0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
    expect(assignWaves(5, { canary: 2, batch: 2 })).toEqual([0, 0, 1, 1, 2]);
  });

  it("starts with a batch when there is no canary", () => {
    expect(assignWaves(5, { canary: 0, batch: 2 })).toEqual([0, 0, 1, 1, 2]);
  });

  it("puts every stack in the canary when the canary is larger than the team", () => {
    expect(assignWaves(3, { canary: 5, batch: 2 })).toEqual([0, 0, 0]);
  });

  it("refuses a batch below 1 and a negative canary", () => {
    expect(() => assignWaves(3, { canary: 1, batch: 0 })).toThrow(/batch: expected 1 or more, found 0/);
    expect(() => assignWaves(3, { canary: -1, batch: 2 })).toThrow(/canary: expected 0 or more/);
  });
});

describe("nextRolloutStep", () => {
  it("starts the canary first, alone", () => {
    expect(nextRolloutStep(S, stacks(20, S))).toEqual({ kind: "start", wave: 0, stackIds: ["s1"] });
  });

  it("waits while the canary runs", () => {
    expect(nextRolloutStep(S, stacks(20, S, { 1: "UPDATING" }))).toEqual({ kind: "wait", wave: 0 });
  });

  it("stops the rollout when the canary fails, with max_failed_percent 10", () => {
    const step = nextRolloutStep(S, stacks(20, S, { 1: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "STOPPED" });
    expect(step.kind === "finish" && step.reason).toMatch(/the canary failed \(s1\)/);
  });

  it("stops on a canary failure even when the threshold would allow it", () => {
    const lenient = { canary: 2, batch: 5, maxFailedPercent: 100 };
    const step = nextRolloutStep(lenient, stacks(20, lenient, { 1: "SUCCEEDED", 2: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "STOPPED" });
  });

  it("starts the first batch once the canary succeeded", () => {
    expect(nextRolloutStep(S, stacks(20, S, { 1: "SUCCEEDED" }))).toEqual({
      kind: "start",
      wave: 1,
      stackIds: ["s2", "s3", "s4", "s5", "s6"],
    });
  });

  it("starts a wave's stacks not started yet while others of it run (a start cut short)", () => {
    const step = nextRolloutStep(S, stacks(20, S, { 1: "SUCCEEDED", 2: "UPDATING", 3: "UPDATING" }));
    expect(step).toEqual({ kind: "start", wave: 1, stackIds: ["s4", "s5", "s6"] });
  });

  it("waits for every stack of a wave before the next wave starts", () => {
    const states = { ...first(5, "SUCCEEDED"), 6: "UPDATING" } as const;
    expect(nextRolloutStep(S, stacks(20, S, states))).toEqual({ kind: "wait", wave: 1 });
  });

  it("continues while failures are at most max_failed_percent of the stacks attempted", () => {
    // A failure in the second batch: 1 of 11 attempted is 9.1%, under 10%; the third batch starts.
    const states = { ...first(11, "SUCCEEDED"), 8: "FAILED" } as const;
    expect(nextRolloutStep(S, stacks(20, S, states))).toMatchObject({ kind: "start", wave: 3 });
  });

  it("stops after the wave in which failures pass max_failed_percent", () => {
    // 1 failure of 6 attempted is 16.7%: more than 10%.
    const step = nextRolloutStep(S, stacks(20, S, { ...first(6, "SUCCEEDED"), 4: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "STOPPED" });
    expect(step.kind === "finish" && step.reason).toMatch(/1 of 6 stacks attempted failed \(16\.7%\)/);
  });

  it("does not stop in the middle of a wave, even when its failures already pass the threshold", () => {
    const step = nextRolloutStep(
      S,
      stacks(20, S, {
        ...first(6, "UPDATING"),
        1: "SUCCEEDED",
        2: "FAILED",
        3: "FAILED",
      }),
    );
    expect(step).toEqual({ kind: "wait", wave: 1 });
  });

  it("treats exactly max_failed_percent as within it", () => {
    const half = { canary: 0, batch: 2, maxFailedPercent: 50 };
    expect(nextRolloutStep(half, stacks(4, half, { 1: "SUCCEEDED", 2: "FAILED" }))).toMatchObject({
      kind: "start",
      wave: 1,
    });
  });

  it("stops on any failure with max_failed_percent 0", () => {
    const strict = { canary: 0, batch: 3, maxFailedPercent: 0 };
    const step = nextRolloutStep(strict, stacks(6, strict, { 1: "SUCCEEDED", 2: "SUCCEEDED", 3: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "STOPPED" });
  });

  it("counts skipped stacks as not attempted", () => {
    const strictish = { canary: 0, batch: 2, maxFailedPercent: 50 };
    // One failed, one skipped: 1 of 1 attempted failed, 100%.
    const step = nextRolloutStep(strictish, stacks(4, strictish, { 1: "SKIPPED", 2: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "STOPPED" });
    // All skipped: nothing attempted, nothing failed; the next wave starts.
    expect(nextRolloutStep(strictish, stacks(4, strictish, first(2, "SKIPPED")))).toMatchObject({
      kind: "start",
      wave: 1,
    });
  });

  it("succeeds when every wave finished within the threshold, and says how many failed", () => {
    const step = nextRolloutStep(S, stacks(20, S, { ...first(20, "SUCCEEDED"), 7: "FAILED" }));
    expect(step).toMatchObject({ kind: "finish", state: "SUCCEEDED" });
    expect(step.kind === "finish" && step.reason).toMatch(/19 of 20 stacks updated, 1 failed/);
  });

  it("succeeds at once with no stack to update", () => {
    expect(nextRolloutStep(S, [])).toMatchObject({ kind: "finish", state: "SUCCEEDED" });
  });

  it("answers the same when asked twice (a duplicate trigger starts nothing new)", () => {
    const view = stacks(20, S, { 1: "SUCCEEDED" });
    expect(nextRolloutStep(S, view)).toEqual(nextRolloutStep(S, view));
  });
});

describe("passesThreshold and rolloutCounts", () => {
  it("compares exactly, without rounding", () => {
    expect(passesThreshold(1, 10, 10)).toBe(false);
    expect(passesThreshold(2, 19, 10)).toBe(true);
    expect(passesThreshold(0, 0, 0)).toBe(false);
  });

  it("counts stacks per state", () => {
    expect(rolloutCounts(stacks(3, S, { 1: "FAILED" }))).toEqual({
      PENDING: 2,
      UPDATING: 0,
      SUCCEEDED: 0,
      FAILED: 1,
      SKIPPED: 0,
    });
  });
});
