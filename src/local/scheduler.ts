import { type ExpiryAction, expiryDue } from "../pipeline/expiry.ts";
import type { StackKey, StackRecord } from "../ports/store.ts";
import type { EngineOutcome, LocalEngine } from "./engine.ts";

/**
 * `teamstack serve`'s expiry scheduler: the local side of the ExpirySchedules port (in AWS,
 * EventBridge Scheduler fires one-time schedules). Every few seconds it reads the stacks and, for
 * each whose `expiresAt` (ttl) or `stopsAt` (auto_stop) has come, runs the destroy machine or the
 * power machine's stop with `expired` in the input, as a schedule would. The run takes the stack's
 * lock like any other, checks that the expiry is still due, records it (Stack Expired) and clears
 * the field, so an expiry fires once; a stack busy with another run is tried again on a later
 * tick. `teamstack up` alone runs no scheduler: nothing expires without `serve`.
 */

export interface ExpiryScheduler {
  /** Reads the stacks once and starts what is due (the timer calls it; tests may too). */
  tick(): Promise<void>;
  /** Stops the timer and waits for the runs it started. */
  stop(): Promise<void>;
}

/** How often serve reads the stacks: an expiry acts within this (and its run's time) of its due time. */
export const EXPIRY_POLL_MS = 5_000;

export function startExpiryScheduler(options: {
  readonly engine: LocalEngine;
  readonly intervalMs?: number;
  readonly log?: (line: string) => void;
  readonly now?: () => Date;
}): ExpiryScheduler {
  const { engine } = options;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? (() => undefined);
  // Stacks with an expiry run going: never a second one for the same stack from here.
  const inFlight = new Map<string, Promise<void>>();
  let stopped = false;
  let ticking: Promise<void> | undefined;

  const fire = (stack: StackRecord, action: ExpiryAction): void => {
    const key: StackKey = { team: stack.team, stackId: stack.stackId };
    const at = (action === "destroy" ? stack.expiresAt : stack.stopsAt) as string;
    const id = `${stack.team}/${stack.stackId}`;
    log(`${action === "destroy" ? "ttl" : "auto_stop"} of stack ${stack.stackId} is due (${at}): ${action}`);
    const run = engine
      .expire(key, action, at)
      .then((outcome: EngineOutcome) => {
        if (outcome.status === "FAILED") {
          const busy = outcome.error === "StackLockedError";
          log(
            `${action} of stack ${stack.stackId} ${busy ? "waits: the stack is busy; tried again shortly" : `failed: ${outcome.error}: ${outcome.cause}`}`,
          );
        }
      })
      .catch((error: unknown) =>
        log(`${action} of stack ${stack.stackId} stopped: ${(error as Error).message}`),
      )
      .finally(() => inFlight.delete(id));
    inFlight.set(id, run);
  };

  const tick = async (): Promise<void> => {
    if (stopped) return;
    const stacks = await engine.store.listStacks();
    const at = now();
    for (const stack of stacks) {
      const action = expiryDue(stack, at);
      if (!action || inFlight.has(`${stack.team}/${stack.stackId}`)) continue;
      // Busy with another run: its own run will not be refused for long; look again next tick.
      if (stack.lock && (await engine.executions.isRunning(stack.lock.execution))) continue;
      fire(stack, action);
    }
  };

  const timer = setInterval(() => {
    if (ticking) return;
    ticking = tick()
      .catch((error: unknown) => log(`reading the stacks' expiry failed: ${(error as Error).message}`))
      .finally(() => {
        ticking = undefined;
      });
  }, options.intervalMs ?? EXPIRY_POLL_MS);
  timer.unref();
  // On start, at once: an expiry that came while serve was down acts now.
  ticking = tick()
    .catch((error: unknown) => log(`reading the stacks' expiry failed: ${(error as Error).message}`))
    .finally(() => {
      ticking = undefined;
    });

  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await ticking;
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
