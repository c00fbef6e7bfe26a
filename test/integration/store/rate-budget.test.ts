import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RateLimit } from "../../../src/ports/rate-budget.ts";
import { listSimCreations } from "../../../src/providers/sim/sim-provider.ts";
import { createDynamoRateBudget, lateToleranceMs } from "../../../src/store/rate-budget.ts";
import { createTable } from "../../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "./dynalite.ts";

// The rate budget in the table, shared by callers that know nothing of each other.
const TABLE = "teamstack-rate";
const CREATOR = fileURLToPath(new URL("./sim-creator.ts", import.meta.url));
let db: TestDynalite;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
});

afterAll(async () => {
  await db?.close();
});

/**
 * The most calls any window of the times holds beyond what the limit allows in it: at most 0 when
 * the times conform to the token bucket, each call taken to go up to the budget's lateness
 * tolerance after its turn (and 1 ms early from rounding to milliseconds).
 */
function excess(times: readonly number[], limit: RateLimit): number {
  const slack = lateToleranceMs(limit) + 1;
  const t = [...times].sort((a, b) => a - b);
  let worst = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < t.length; i++) {
    for (let j = i; j < t.length; j++) {
      const allowed = limit.burst + (limit.perSecond * ((t[j] as number) - (t[i] as number) + slack)) / 1000;
      worst = Math.max(worst, j - i + 1 - allowed);
    }
  }
  return worst;
}

/** The achieved rate as a share of the limit: calls after the burst, over the time they took. */
function share(times: readonly number[], limit: RateLimit): number {
  const span = (Math.max(...times) - Math.min(...times)) / 1000;
  return (times.length - limit.burst) / (limit.perSecond * span);
}

describe("the rate budget in the table", () => {
  it("keeps three processes creating sim servers at once within one account-wide limit together", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "teamstack-rate-"));
    const limit = { perSecond: 20, burst: 3 };
    try {
      const children = ["p1", "p2", "p3"].map((stackId) =>
        spawn(
          process.execPath,
          [
            CREATOR,
            db.endpoint,
            TABLE,
            stateDir,
            stackId,
            "12",
            String(limit.perSecond),
            String(limit.burst),
          ],
          { stdio: ["pipe", "pipe", "inherit"] },
        ),
      );
      const exits = children.map(
        (child) =>
          new Promise<number | null>((resolve) => {
            child.on("exit", (code) => resolve(code));
          }),
      );
      // Every process has loaded and waits on stdin; start them together.
      for (const child of children) child.stdin.end("go\n");
      expect(await Promise.all(exits)).toEqual([0, 0, 0]);
      const creations = await listSimCreations(stateDir);
      expect(creations).toHaveLength(36);
      const times = creations.map((c) => c.createdAt);
      expect(excess(times, limit)).toBeLessThanOrEqual(0);
      // And the budget was used, not merely respected: the three together kept close to the rate.
      expect(share(times, limit)).toBeGreaterThan(0.6);
      expect(new Set(creations.map((c) => c.stackId))).toEqual(new Set(["p1", "p2", "p3"]));
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it("hands turns to many callers at once in order, a burst first, then one per interval", async () => {
    const limit = { perSecond: 50, burst: 5 };
    // Eight "containers", each with its own client to the one table.
    const budgets = Array.from({ length: 8 }, () =>
      createDynamoRateBudget({ client: db.client, tableName: TABLE }),
    );
    const granted: number[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const ok = await (budgets[i % budgets.length] as (typeof budgets)[number]).take("burst-test", limit, {
          maxWaitMs: 10_000,
        });
        expect(ok).toBe(true);
        granted.push(Date.now());
      }),
    );
    expect(granted).toHaveLength(40);
    expect(excess(granted, limit)).toBeLessThanOrEqual(0);
  });

  it("takes nothing when the turn would come later than the caller may wait, and starts afresh when idle", async () => {
    const limit = { perSecond: 1, burst: 2 };
    const budget = createDynamoRateBudget({ client: db.client, tableName: TABLE });
    expect(await budget.take("throttle-test", limit, { maxWaitMs: 0 })).toBe(true);
    expect(await budget.take("throttle-test", limit, { maxWaitMs: 0 })).toBe(true);
    // The next turn is a second away.
    expect(await budget.take("throttle-test", limit, { maxWaitMs: 100 })).toBe(false);
    expect(await budget.take("throttle-test", limit, { maxWaitMs: 100 })).toBe(false);
    // Another budget is untouched by this one.
    expect(await budget.take("other-test", limit, { maxWaitMs: 0 })).toBe(true);
  });
});
