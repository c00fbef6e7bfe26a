import {
  checkRateLimit,
  intervalMicros,
  latestTat,
  type RateBudget,
  type RateLimit,
  turnOf,
  untilTurn,
} from "../ports/rate-budget.ts";

/**
 * The RateBudget port within one process: a budget shared by the callers of this process only. It
 * keeps a process within a rate where nothing else shares the budget (tests, a single container);
 * deployments share their budgets through the table (src/store/rate-budget.ts), so that every
 * container and process together stays within them.
 */
export interface MemoryRateBudgetOptions {
  /** Epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export function createMemoryRateBudget(options: MemoryRateBudgetOptions = {}): RateBudget {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const tats = new Map<string, number>();
  return {
    async take(key: string, limit: RateLimit, { maxWaitMs }: { readonly maxWaitMs: number }) {
      checkRateLimit(limit);
      const at = now() * 1000;
      const tat = tats.get(key) ?? 0;
      if (tat > latestTat(at, limit, maxWaitMs)) return false;
      // Reserved at once, so that concurrent callers are spaced in the order they called.
      const next = Math.max(tat, at) + intervalMicros(limit);
      tats.set(key, next);
      await untilTurn(turnOf(next, limit), now, sleep);
      return true;
    },
  };
}
