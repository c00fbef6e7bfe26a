/**
 * The RateBudget port: a rate of calls shared by every caller that names the same budget, in every
 * container, process and stack (EC2's RunInstances: one budget per account and region). The
 * DynamoDB adapter (src/store/rate-budget.ts) shares it through the table; the memory adapter
 * (src/providers/aws/token-bucket.ts) within one process.
 */

/** A token bucket: `burst` calls at once, then `perSecond` a second. */
export interface RateLimit {
  readonly burst: number;
  readonly perSecond: number;
}

export interface RateBudget {
  /**
   * Takes one call from the budget `key` and waits for its turn. Turns go in the order they are
   * asked for and never faster than `limit` allows, counting every caller of the budget together.
   * @returns false, having taken nothing, when the turn would come more than `maxWaitMs` from now.
   */
  take(key: string, limit: RateLimit, options: { readonly maxWaitMs: number }): Promise<boolean>;
}

/**
 * The bucket arithmetic both adapters share (GCRA, the generic cell rate algorithm): a budget is
 * one number, its theoretical arrival time `tat` (in microseconds): when the bucket would be full
 * again. A call moves it to `max(tat, now) + interval`, and may go at `tat - burst × interval`.
 */
export function intervalMicros(limit: RateLimit): number {
  // Rounded up: a turn is never earlier than the rate allows.
  return Math.ceil(1_000_000 / limit.perSecond);
}

/** When the call that moved the budget to `tat` may go, in microseconds. */
export function turnOf(tat: number, limit: RateLimit): number {
  return tat - limit.burst * intervalMicros(limit);
}

/** The latest `tat` a new call may find and still go within `maxWaitMs` of `now` (microseconds). */
export function latestTat(now: number, limit: RateLimit, maxWaitMs: number): number {
  return now + maxWaitMs * 1000 + (limit.burst - 1) * intervalMicros(limit);
}

/** Sleeps until `turn` (epoch microseconds) has come by `now`'s clock (a timer may fire a little early). */
export async function untilTurn(
  turn: number,
  now: () => number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  for (let left = turn - now() * 1000; left > 0; left = turn - now() * 1000)
    await sleep(Math.ceil(left / 1000));
}

/**
 * Checks a rate limit's numbers.
 * @throws RangeError naming the bad value.
 */
export function checkRateLimit(limit: RateLimit): void {
  if (!Number.isInteger(limit.burst) || limit.burst < 1) {
    throw new RangeError(`a rate budget's burst is ${limit.burst}; expected a whole number, 1 or more`);
  }
  if (!(limit.perSecond > 0) || !Number.isFinite(limit.perSecond)) {
    throw new RangeError(`a rate budget's rate is ${limit.perSecond} a second; expected more than 0`);
  }
}
