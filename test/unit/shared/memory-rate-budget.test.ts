import { describe, expect, it } from "vitest";
import { RUN_INSTANCES_RATE } from "../../../src/providers/aws/token-bucket.ts";
import { createMemoryRateBudget } from "../../../src/shared/memory-rate-budget.ts";

/** A budget on a clock that only sleeping moves: each take resolves at its turn. */
function budget() {
  const clock = { now: 0 };
  const waits: number[] = [];
  const b = createMemoryRateBudget({
    now: () => clock.now,
    sleep: async (ms) => {
      waits.push(ms);
      clock.now += ms;
    },
  });
  const take = (maxWaitMs = 60_000, key = "ec2:RunInstances:111122223333:eu-west-1") =>
    b.take(key, RUN_INSTANCES_RATE, { maxWaitMs });
  return { take, clock, waits };
}

describe("the RunInstances budget of one process", () => {
  it("lets a burst of 5 through, then spaces calls 500 ms apart (2 a second)", async () => {
    const { take, clock } = budget();
    const at: number[] = [];
    for (let i = 0; i < 7; i++) {
      clock.now = 0;
      expect(await take()).toBe(true);
      at.push(clock.now);
    }
    expect(at).toEqual([0, 0, 0, 0, 0, 500, 1000]);
  });

  it("refills with time, up to the burst", async () => {
    const { take, clock, waits } = budget();
    for (let i = 0; i < 5; i++) await take();
    clock.now += 1_000;
    await take();
    await take();
    expect(waits).toEqual([]);
    clock.now += 60_000;
    for (let i = 0; i < 5; i++) await take();
    expect(waits).toEqual([]);
    await take();
    expect(waits).toEqual([500]);
  });

  it("takes nothing when the turn is further than the caller may wait, and keeps budgets apart by key", async () => {
    const { take, clock } = budget();
    for (let i = 0; i < 7; i++) {
      clock.now = 0;
      await take();
    }
    clock.now = 0;
    // The next turn is at 1,500 ms: not within 1 s.
    expect(await take(1_000)).toBe(false);
    clock.now = 0;
    expect(await take(1_500)).toBe(true);
    expect(clock.now).toBe(1_500);
    clock.now = 0;
    expect(await take(0, "ec2:RunInstances:111122223333:us-east-1")).toBe(true);
    expect(clock.now).toBe(0);
  });
});
