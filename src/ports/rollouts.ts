/**
 * The Rollouts port: a rollout's record, one record per stack it updates, and the team's one
 * running rollout per template. The DynamoDB adapter (src/store/dynamo/rollouts.ts) keeps them in
 * the team's partition; the runner (src/api/rollouts.ts) moves stacks between states only with
 * conditional writes, so that a duplicate trigger starts nothing twice.
 */

import type { RolloutStackState, RolloutState } from "../core/rollout.ts";

export interface RolloutKey {
  readonly team: string;
  readonly rolloutId: string;
}

export interface RolloutRecord extends RolloutKey {
  /** The template rolled out, and the version every stack goes to. */
  readonly template: string;
  readonly version: number;
  readonly canary: number;
  readonly batch: number;
  readonly maxFailedPercent: number;
  readonly state: RolloutState;
  /** How many stacks the rollout took on when it started. */
  readonly stacks: number;
  /** The admin who started it. */
  readonly createdBy: string;
  readonly createdAt: string;
  readonly finishedAt?: string;
  /** Why it ended: the counts, or the failure that stopped it. */
  readonly reason?: string;
}

/** One stack of a rollout. */
export interface RolloutStackRecord extends RolloutKey {
  readonly stackId: string;
  readonly member: string;
  /** Its place in the rollout's order, from 0. */
  readonly index: number;
  /** Its wave: 0 is the canary (when there is one). */
  readonly wave: number;
  /** The version the stack was on when the rollout started. */
  readonly fromVersion: number;
  readonly state: RolloutStackState;
  /**
   * The stack's run number when its update was started: a run that ends with a higher number is
   * this update's (or a later one's), an older run's event is not.
   */
  readonly fromRun?: number;
  /** The update's execution, once started. */
  readonly execution?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Why it failed or was skipped. */
  readonly error?: string;
}

/** Fields a state change may set besides `state`. */
export type RolloutStackChange = Partial<
  Pick<RolloutStackRecord, "fromRun" | "execution" | "startedAt" | "finishedAt" | "error">
>;

export interface Rollouts {
  /**
   * Marks `rolloutId` as the running rollout of its template, unless another one is. A claim whose
   * rollout record was never written (its writer died in between) and that is older than
   * `staleAfterMs` is taken over. Returns the rollout that holds the claim afterwards.
   */
  claimActiveRollout(
    team: string,
    template: string,
    rolloutId: string,
    now: Date,
    staleAfterMs: number,
  ): Promise<{ readonly claimed: true } | { readonly claimed: false; readonly holder: string }>;
  /** The running rollout of a template, if any. */
  getActiveRollout(team: string, template: string): Promise<string | undefined>;
  /** Clears the claim if `rolloutId` holds it. */
  releaseActiveRollout(team: string, template: string, rolloutId: string): Promise<void>;

  /** Writes a new rollout: its stacks first, its record last (a crash in between leaves no record). */
  putRollout(rollout: RolloutRecord, stacks: readonly RolloutStackRecord[]): Promise<void>;
  getRollout(key: RolloutKey): Promise<RolloutRecord | undefined>;
  /** A team's rollouts, newest first (without their stacks). */
  listRollouts(team: string): Promise<RolloutRecord[]>;
  /** A rollout's stacks, in rollout order. */
  listRolloutStacks(key: RolloutKey): Promise<RolloutStackRecord[]>;
  getRolloutStack(key: RolloutKey, stackId: string): Promise<RolloutStackRecord | undefined>;
  /**
   * Moves a stack to `to` if it is in one of `from` (and, with `olderRunThan`, if the run its update
   * started from is older than that run): the record afterwards, or undefined when it was not
   * (another caller moved it first, or the event is an older run's).
   */
  moveRolloutStack(
    key: RolloutKey,
    stackId: string,
    from: readonly RolloutStackState[],
    to: RolloutStackState,
    change?: RolloutStackChange,
    olderRunThan?: number,
  ): Promise<RolloutStackRecord | undefined>;
  /** Records what a started stack's update is (fields only, no state change). */
  setRolloutStack(key: RolloutKey, stackId: string, change: RolloutStackChange): Promise<void>;
  /** Ends a RUNNING rollout; false when it had ended already (another caller ended it). */
  finishRollout(
    key: RolloutKey,
    state: Exclude<RolloutState, "RUNNING">,
    reason: string,
    finishedAt: string,
  ): Promise<boolean>;
}
