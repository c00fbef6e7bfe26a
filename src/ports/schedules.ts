import type { StackKey } from "./store.ts";

/** What a stack's expiry does when it is due: `ttl` destroys it, `auto_stop` stops it. */
export type ExpiryAction = "destroy" | "stop";

/**
 * One-time schedules that fire a stack's expiry: EventBridge Scheduler in AWS (an `at(...)`
 * schedule per stack and action, deleted once it has fired), and locally `teamstack serve`, whose
 * scheduler reads the stacks' `expiresAt` and `stopsAt` itself (src/local/scheduler.ts). Both
 * calls are idempotent: setting a schedule again moves it, clearing one that is gone does nothing.
 */
export interface ExpirySchedules {
  /** Creates the schedule of `action` for the stack at `at` (ISO), or moves it there. */
  set(key: StackKey, action: ExpiryAction, at: string): Promise<void>;
  /** Removes the schedule of `action` for the stack, if there is one. */
  clear(key: StackKey, action: ExpiryAction): Promise<void>;
}

/** Expiry schedules that do nothing: where something else reads the stacks' expiry fields (serve). */
export const NO_SCHEDULES: ExpirySchedules = {
  async set() {},
  async clear() {},
};
