import { describe, expect, it } from "vitest";
import { ProviderThrottledError } from "../../../../src/providers/aws/errors.ts";
import { RUN_INSTANCES_RATE, TokenBucket } from "../../../../src/providers/aws/token-bucket.ts";

function bucket(maxWaitMs = 60_000) {
  const clock = { now: 0 };
  const waits: number[] = [];
  const b = new TokenBucket({
    ...RUN_INSTANCES_RATE,
    maxWaitMs,
    now: () => clock.now,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  return { b, clock, waits };
}

describe("the RunInstances token bucket", () => {
  it("lets a burst of 5 through, then spaces calls 500 ms apart (2 a second)", async () => {
    const { b, waits } = bucket();
    for (let i = 0; i < 7; i++) await b.take("launch");
    expect(waits).toEqual([500, 1000]);
  });

  it("refills with time, up to the burst", async () => {
    const { b, clock, waits } = bucket();
    for (let i = 0; i < 5; i++) await b.take("launch");
    clock.now += 1_000;
    await b.take("launch");
    await b.take("launch");
    expect(waits).toEqual([]);
    clock.now += 60_000;
    for (let i = 0; i < 6; i++) await b.take("launch");
    expect(waits).toEqual([500]);
  });

  it("gives up with ProviderThrottledError rather than wait past its limit", async () => {
    const { b } = bucket(1_000);
    for (let i = 0; i < 7; i++) await b.take("launch");
    const err = await b.take("EC2 RunInstances").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderThrottledError);
    expect((err as Error).name).toBe("ProviderThrottledError");
  });
});
