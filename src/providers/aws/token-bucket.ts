import type { RateLimit } from "../../ports/rate-budget.ts";

/**
 * EC2's RunInstances rate per account and region: a burst of 5, then 2 a second. The aws provider
 * takes a turn in one budget per account and region (`launchBudgetKey`) before each launch; in a
 * deployment that budget is an item of the table (src/store/rate-budget.ts), shared by every
 * container and every stack, so that together they never exceed the rate.
 */
export const RUN_INSTANCES_RATE = { burst: 5, perSecond: 2 } as const satisfies RateLimit;

/** The budget of RunInstances calls in one account and region. */
export function launchBudgetKey(accountKey: string, region: string): string {
  return `ec2:RunInstances:${accountKey}:${region}`;
}
