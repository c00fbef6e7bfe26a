import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RolloutRecord, RolloutStackRecord, Rollouts } from "../../../src/ports/rollouts.ts";
import { createDynamoRolloutStore } from "../../../src/store/dynamo/rollouts.ts";
import { startTestStore, type TestDynalite } from "./dynalite.ts";

// The Rollouts adapter on dynalite: the running-rollout claim, the records, and the conditional
// state moves the runner relies on to start nothing twice.

let db: TestDynalite;
let store: Rollouts;

beforeAll(async () => {
  ({ db } = await startTestStore("rollouts-test"));
  store = createDynamoRolloutStore({ client: db.client, tableName: "rollouts-test" });
});
afterAll(async () => {
  await db?.close();
});

let counter = 0;
const freshTeam = () => `team-${++counter}`;
const T0 = new Date("2030-01-01T00:00:00.000Z");

function rollout(team: string, rolloutId: string, extra: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    team,
    rolloutId,
    template: "web",
    version: 3,
    canary: 1,
    batch: 5,
    maxFailedPercent: 10,
    state: "RUNNING",
    stacks: 3,
    createdBy: "root",
    createdAt: T0.toISOString(),
    ...extra,
  };
}

function entries(team: string, rolloutId: string, count: number): RolloutStackRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    team,
    rolloutId,
    stackId: `st-${i}`,
    member: `m${i}`,
    index: i,
    wave: i === 0 ? 0 : 1,
    fromVersion: 2,
    state: "PENDING" as const,
  }));
}

describe("the running rollout of a template", () => {
  it("is claimed by one rollout at a time, again by the same one, and released only by it", async () => {
    const team = freshTeam();
    expect(await store.claimActiveRollout(team, "web", "ro-a", T0, 60_000)).toEqual({ claimed: true });
    expect(await store.claimActiveRollout(team, "web", "ro-a", T0, 60_000)).toEqual({ claimed: true });
    expect(await store.claimActiveRollout(team, "web", "ro-b", T0, 60_000)).toEqual({
      claimed: false,
      holder: "ro-a",
    });
    // Another template is its own claim.
    expect(await store.claimActiveRollout(team, "api", "ro-b", T0, 60_000)).toEqual({ claimed: true });
    await store.releaseActiveRollout(team, "web", "ro-b");
    expect(await store.getActiveRollout(team, "web")).toBe("ro-a");
    await store.releaseActiveRollout(team, "web", "ro-a");
    expect(await store.getActiveRollout(team, "web")).toBeUndefined();
    await store.releaseActiveRollout(team, "web", "ro-a");
  });

  it("is taken over when its rollout was never written and the claim is stale, not before", async () => {
    const team = freshTeam();
    await store.claimActiveRollout(team, "web", "ro-dead", T0, 60_000);
    const soon = new Date(T0.getTime() + 30_000);
    expect(await store.claimActiveRollout(team, "web", "ro-new", soon, 60_000)).toMatchObject({
      claimed: false,
    });
    const later = new Date(T0.getTime() + 61_000);
    expect(await store.claimActiveRollout(team, "web", "ro-new", later, 60_000)).toEqual({ claimed: true });
    expect(await store.getActiveRollout(team, "web")).toBe("ro-new");
  });

  it("is not taken over from a rollout that exists, however old the claim", async () => {
    const team = freshTeam();
    await store.claimActiveRollout(team, "web", "ro-live", T0, 60_000);
    await store.putRollout(rollout(team, "ro-live"), []);
    const later = new Date(T0.getTime() + 3_600_000);
    expect(await store.claimActiveRollout(team, "web", "ro-new", later, 60_000)).toEqual({
      claimed: false,
      holder: "ro-live",
    });
  });
});

describe("rollout records", () => {
  it("stores a rollout and its stacks, and lists them in order", async () => {
    const team = freshTeam();
    await store.putRollout(rollout(team, "ro-1"), entries(team, "ro-1", 30).reverse());
    expect(await store.getRollout({ team, rolloutId: "ro-1" })).toEqual(rollout(team, "ro-1"));
    const stacks = await store.listRolloutStacks({ team, rolloutId: "ro-1" });
    expect(stacks.map((s) => s.index)).toEqual([...Array(30).keys()]);
    expect(stacks[0]).toEqual(entries(team, "ro-1", 1)[0]);
    await store.putRollout(rollout(team, "ro-2", { createdAt: "2030-02-01T00:00:00.000Z" }), []);
    expect((await store.listRollouts(team)).map((r) => r.rolloutId)).toEqual(["ro-2", "ro-1"]);
    expect(await store.getRollout({ team, rolloutId: "ro-none" })).toBeUndefined();
  });

  it("refuses to write a rollout id twice", async () => {
    const team = freshTeam();
    await store.putRollout(rollout(team, "ro-1"), []);
    await expect(store.putRollout(rollout(team, "ro-1"), [])).rejects.toThrow(/exists already/);
  });

  it("moves a stack only from the states given, so that one of two callers starts it", async () => {
    const team = freshTeam();
    const key = { team, rolloutId: "ro-1" };
    await store.putRollout(rollout(team, "ro-1"), entries(team, "ro-1", 1));
    const [a, b] = await Promise.all([
      store.moveRolloutStack(key, "st-0", ["PENDING"], "UPDATING", { fromRun: 4, startedAt: "t" }),
      store.moveRolloutStack(key, "st-0", ["PENDING"], "UPDATING", { fromRun: 4, startedAt: "t" }),
    ]);
    expect([a, b].filter((x) => x !== undefined)).toHaveLength(1);
    expect(a ?? b).toMatchObject({ state: "UPDATING", fromRun: 4, startedAt: "t" });
    await store.setRolloutStack(key, "st-0", { execution: "st-0-update-5" });
    // An older run's end is not this update's.
    expect(await store.moveRolloutStack(key, "st-0", ["UPDATING"], "SUCCEEDED", {}, 4)).toBeUndefined();
    const done = await store.moveRolloutStack(key, "st-0", ["UPDATING"], "FAILED", { error: "boom" }, 5);
    expect(done).toMatchObject({ state: "FAILED", error: "boom", execution: "st-0-update-5" });
    // A duplicate of the same end changes nothing.
    expect(await store.moveRolloutStack(key, "st-0", ["UPDATING"], "SUCCEEDED", {}, 5)).toBeUndefined();
    expect(await store.moveRolloutStack(key, "st-none", ["PENDING"], "UPDATING")).toBeUndefined();
  });

  it("ends a running rollout once", async () => {
    const team = freshTeam();
    const key = { team, rolloutId: "ro-1" };
    await store.putRollout(rollout(team, "ro-1"), []);
    expect(await store.finishRollout(key, "STOPPED", "the canary failed", "2030-01-02T00:00:00.000Z")).toBe(
      true,
    );
    expect(await store.finishRollout(key, "SUCCEEDED", "again", "2030-01-03T00:00:00.000Z")).toBe(false);
    expect(await store.getRollout(key)).toMatchObject({
      state: "STOPPED",
      reason: "the canary failed",
      finishedAt: "2030-01-02T00:00:00.000Z",
    });
  });

  it("keeps a rollout of 1,000 stacks, each its own item", async () => {
    const team = freshTeam();
    const key = { team, rolloutId: "ro-big" };
    await store.putRollout(rollout(team, "ro-big", { stacks: 1000 }), entries(team, "ro-big", 1000));
    expect(await store.listRolloutStacks(key)).toHaveLength(1000);
  });
});
