import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conflict, unprocessable } from "../../../src/api/errors.ts";
import { RolloutService, type StackUpdater } from "../../../src/api/rollouts.ts";
import type { Rollouts } from "../../../src/ports/rollouts.ts";
import type { OutboundEvent, StackRecord } from "../../../src/ports/store.ts";
import { createDynamoRolloutStore } from "../../../src/store/dynamo/rollouts.ts";
import type { DynamoStore } from "../../../src/store/dynamo-store.ts";
import { startTestStore, type TestDynalite } from "../store/dynalite.ts";

// The rollout runner over the real store (dynalite) with a fake updater: which stacks it starts,
// when it stops, and that duplicate, late and concurrent run ends start nothing twice. The real
// update, end to end, is in test/integration/cli-stack/rollout.test.ts.

let db: TestDynalite;
let store: DynamoStore;
let rollouts: Rollouts;

beforeAll(async () => {
  ({ db, store } = await startTestStore("rollout-runner-test"));
  rollouts = createDynamoRolloutStore({ client: db.client, tableName: "rollout-runner-test" });
});
afterAll(async () => {
  await db?.close();
});

let counter = 0;
const admin = (team: string) => ({ team, member: "root", admin: true });
const YAML = "servers:\n  - { name: web, provider: sim, type: small }\n";

/** A fake updater: records each update; `refuse` makes one stack's update throw. */
class FakeUpdater implements StackUpdater {
  readonly calls: { stackId: string; version: number }[] = [];
  readonly refuse = new Map<string, Error>();
  readonly s: DynamoStore;
  constructor(s: DynamoStore) {
    this.s = s;
  }
  async update(team: string, stackId: string, version: number) {
    const refused = this.refuse.get(stackId);
    if (refused) throw refused;
    this.calls.push({ stackId, version });
    const stack = (await this.s.getStack({ team, stackId })) as StackRecord;
    // What the real update records: the version the stack converges to.
    await this.s.updateStack({ team, stackId }, { template: { name: "web", version }, status: "RUNNING" });
    return { executionName: `${stackId}-update-${stack.run + 1}` };
  }
  started(): string[] {
    return this.calls.map((c) => c.stackId);
  }
}

async function setUp(
  count: number,
  extra: (team: string) => Promise<void> = async () => undefined,
  now: () => Date = () => new Date(),
) {
  const team = `team-${++counter}`;
  for (const v of [1, 2, 3, 4]) {
    await store.putTemplateVersion({
      team,
      name: "web",
      yaml: `${YAML}# v${v}\n`,
      hash: `h${v}`,
      author: "root",
      createdAt: "2030-01-01T00:00:00.000Z",
    });
  }
  for (let i = 0; i < count; i++) await putStack(team, `st-${String(i).padStart(2, "0")}`, 2);
  await extra(team);
  const updater = new FakeUpdater(store);
  const events: OutboundEvent[] = [];
  const service = new RolloutService({
    store,
    rollouts,
    updater,
    events: { publish: async (e) => void events.push(e) },
    now,
  });
  return { team, updater, events, service };
}

async function putStack(
  team: string,
  stackId: string,
  version: number,
  extra: Partial<StackRecord> = {},
): Promise<void> {
  await store.createStack({
    team,
    stackId,
    member: `m-${stackId}`,
    status: "SUCCEEDED",
    run: 1,
    templateYaml: YAML,
    templateFile: "web.yaml",
    templateHash: "h",
    userdata: {},
    simulate: [],
    createdAt: `2030-01-01T00:00:${stackId.slice(-2)}.000Z`,
    startedAt: "2030-01-01T00:00:00.000Z",
    template: { name: "web", version },
    ...extra,
  });
}

/** Ends a stack's update run as the engine would, and tells the runner. */
async function end(
  service: RolloutService,
  team: string,
  stackId: string,
  status: "SUCCEEDED" | "FAILED",
  version = 3,
) {
  const stack = (await store.getStack({ team, stackId })) as StackRecord;
  const run = stack.run + 1;
  await store.updateStack({ team, stackId }, { run, status });
  await service.onStackRunEnded({
    team,
    stackId,
    run,
    status,
    template: { name: "web", version },
    ...(status === "FAILED" ? { error: "server web failed" } : {}),
  });
}

describe("a rollout", () => {
  it("takes on the stacks behind the version, and starts with the canary alone", async () => {
    const { team, updater, service } = await setUp(5, async (team) => {
      await putStack(team, "st-50", 3);
      await putStack(team, "st-51", 1, { status: "DESTROYED" });
      await putStack(team, "st-52", 1, { template: { name: "other", version: 1 } });
      await putStack(team, "st-53", 1);
    });
    const out = await service.start(admin(team), team, "web", { version: 3, canary: 1, batch: 2 });
    expect(out.status).toBe(202);
    expect(out.body).toMatchObject({ state: "RUNNING", total: 6, version: 3, max_failed_percent: 0 });
    expect(out.body.stacks.map((s) => [s.stackId, s.wave, s.canary, s.fromVersion])).toEqual([
      ["st-00", 0, true, 2],
      ["st-01", 1, false, 2],
      ["st-02", 1, false, 2],
      ["st-03", 2, false, 2],
      ["st-04", 2, false, 2],
      ["st-53", 3, false, 1],
    ]);
    expect(updater.calls).toEqual([{ stackId: "st-00", version: 3 }]);
    expect(out.body.stacks[0]).toMatchObject({ state: "UPDATING", execution: "st-00-update-2" });
  });

  it("stops after a failed canary with max_failed_percent 10, and leaves the other stacks untouched", async () => {
    const { team, updater, events, service } = await setUp(20);
    const { body } = await service.start(admin(team), team, "web", {
      version: 3,
      canary: 1,
      batch: 5,
      max_failed_percent: 10,
    });
    await end(service, team, "st-00", "FAILED");
    const view = await service.get(admin(team), team, body.rolloutId);
    expect(view).toMatchObject({ state: "STOPPED", reason: expect.stringMatching(/the canary failed/) });
    expect(view.counts).toMatchObject({ FAILED: 1, SKIPPED: 19, PENDING: 0 });
    expect(view.stacks[0]).toMatchObject({ state: "FAILED", error: "server web failed" });
    expect(updater.started()).toEqual(["st-00"]);
    const untouched = (await store.listStacks(team)).filter((s) => s.stackId !== "st-00");
    expect(untouched.map((s) => s.template?.version)).toEqual(Array(19).fill(2));
    expect(events).toEqual([
      expect.objectContaining({
        detailType: "Rollout Finished",
        detail: expect.objectContaining({
          team,
          rolloutId: body.rolloutId,
          state: "STOPPED",
          member: "root",
        }),
      }),
    ]);
    // The template is free: a new rollout may start, and takes on the 20 again (the canary is v3-failed).
    expect(await rollouts.getActiveRollout(team, "web")).toBeUndefined();
    // A late duplicate of the canary's end changes nothing and sends nothing.
    await service.onStackRunEnded({
      team,
      stackId: "st-00",
      run: 2,
      status: "FAILED",
      template: { name: "web", version: 3 },
    });
    expect(events).toHaveLength(1);
  });

  it("goes wave by wave to every stack, starting each stack once whatever the events", async () => {
    const { team, updater, events, service } = await setUp(12);
    const { body } = await service.start(admin(team), team, "web", { version: 4, canary: 2, batch: 5 });
    expect(updater.started()).toEqual(["st-00", "st-01"]);
    // An older run's end (the stack's run before the update) is not the update's: ignored.
    await service.onStackRunEnded({
      team,
      stackId: "st-00",
      run: 1,
      status: "SUCCEEDED",
      template: { name: "web", version: 2 },
    });
    await end(service, team, "st-00", "SUCCEEDED", 4);
    expect(updater.started()).toEqual(["st-00", "st-01"]);
    await end(service, team, "st-01", "SUCCEEDED", 4);
    expect(updater.started()).toHaveLength(7);
    // The wave's five ends at once, each delivered twice: the next wave starts once.
    const wave = ["st-02", "st-03", "st-04", "st-05", "st-06"];
    await Promise.all(
      wave.map(async (id) => {
        const stack = (await store.getStack({ team, stackId: id })) as StackRecord;
        await store.updateStack({ team, stackId: id }, { run: stack.run + 1, status: "SUCCEEDED" });
        const outcome = {
          team,
          stackId: id,
          run: stack.run + 1,
          status: "SUCCEEDED" as const,
          template: { name: "web", version: 4 },
        };
        await Promise.all([service.onStackRunEnded(outcome), service.onStackRunEnded(outcome)]);
      }),
    );
    expect(updater.started()).toHaveLength(12);
    expect(new Set(updater.started()).size).toBe(12);
    for (const id of ["st-07", "st-08", "st-09", "st-10", "st-11"])
      await end(service, team, id, "SUCCEEDED", 4);
    const view = await service.get(admin(team), team, body.rolloutId);
    expect(view).toMatchObject({ state: "SUCCEEDED", counts: { SUCCEEDED: 12 } });
    expect(events.map((e) => e.detail.state)).toEqual(["SUCCEEDED"]);
  });

  it("counts a stack that ends on another version as failed", async () => {
    const { team, service } = await setUp(2);
    const { body } = await service.start(admin(team), team, "web", {
      version: 3,
      canary: 1,
      max_failed_percent: 100,
    });
    await end(service, team, "st-00", "SUCCEEDED", 4);
    const view = await service.get(admin(team), team, body.rolloutId);
    expect(view.stacks[0]).toMatchObject({
      state: "FAILED",
      error: expect.stringMatching(/on version 4, not 3/),
    });
    expect(view.state).toBe("STOPPED");
  });

  it("skips a stack busy with another run, fails one whose update is refused, and goes on", async () => {
    const { team, updater, service } = await setUp(4);
    updater.refuse.set("st-01", conflict("cannot update stack `st-01` while run 1 is running"));
    updater.refuse.set(
      "st-02",
      unprocessable("the template uses $koding.userdata.key, which member has not given"),
    );
    const { body } = await service.start(admin(team), team, "web", {
      version: 3,
      canary: 0,
      batch: 3,
      max_failed_percent: 50,
    });
    expect(updater.started()).toEqual(["st-00"]);
    await end(service, team, "st-00", "SUCCEEDED");
    // 1 failed of 2 attempted (the busy one is skipped): 50%, not more: the last wave starts.
    expect(updater.started()).toEqual(["st-00", "st-03"]);
    await end(service, team, "st-03", "SUCCEEDED");
    const view = await service.get(admin(team), team, body.rolloutId);
    expect(view.state).toBe("SUCCEEDED");
    expect(view.stacks.map((s) => s.state)).toEqual(["SUCCEEDED", "SKIPPED", "FAILED", "SUCCEEDED"]);
    expect(view.stacks[1]?.error).toMatch(/^not updated: cannot update stack `st-01` while run 1 is running/);
  });

  it("answers a repeated request with the running rollout, and refuses another while it runs", async () => {
    const { team, updater, service } = await setUp(3);
    const first = await service.start(admin(team), team, "web", { version: 3 });
    const again = await service.start(admin(team), team, "web", {
      version: 3,
      canary: 1,
      batch: 5,
      max_failed_percent: 0,
    });
    expect(again.status).toBe(200);
    expect(again.body.rolloutId).toBe(first.body.rolloutId);
    await expect(service.start(admin(team), team, "web", { version: 4 })).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining(
        `rollout \`${first.body.rolloutId}\` of template \`web\` (to version 3) is running`,
      ),
    });
    expect(updater.started()).toEqual(["st-00"]);
  });

  it("succeeds at once when no stack is behind, and says so", async () => {
    const { team, events, service } = await setUp(0);
    const out = await service.start(admin(team), team, "web", { version: 2 });
    expect(out.body).toMatchObject({
      state: "SUCCEEDED",
      total: 0,
      reason: "no stack was behind the target version",
    });
    expect(events).toHaveLength(1);
  });

  it("refuses members, other teams, and a version that does not exist", async () => {
    const { team, service } = await setUp(1);
    await expect(
      service.start({ team, member: "ada", admin: false }, team, "web", { version: 3 }),
    ).rejects.toMatchObject({
      status: 403,
    });
    await expect(service.start(admin("other"), team, "web", { version: 3 })).rejects.toMatchObject({
      status: 403,
    });
    await expect(service.start(admin(team), team, "web", { version: 9 })).rejects.toMatchObject({
      status: 404,
      message: `template \`web\` of team \`${team}\` has no version 9; its newest is 4`,
    });
    await expect(service.start(admin(team), team, "nope", { version: 1 })).rejects.toMatchObject({
      status: 404,
    });
  });

  it("lists the stacks behind their template's newest version", async () => {
    const { team, service } = await setUp(0);
    const rows = [
      { stackId: "a", template: "web", version: 2 },
      { stackId: "b", template: "web", version: 4 },
      { stackId: "c", template: null, version: null },
      { stackId: "d", template: "gone", version: 1 },
    ];
    expect(await service.outdated(team, rows)).toEqual([
      { stackId: "a", template: "web", version: 2, latest: 4 },
    ]);
  });

  it("asks again for an update whose caller died before asking, once the stack shows no run of it", async () => {
    let clock = Date.parse("2030-06-01T00:00:00.000Z");
    const { team, updater, service } = await setUp(3, undefined, () => new Date(clock));
    const { body } = await service.start(admin(team), team, "web", { version: 3, canary: 1, batch: 2 });
    const key = { team, rolloutId: body.rolloutId };
    // What a caller that died between marking wave 1 and asking for its updates leaves.
    for (const id of ["st-01", "st-02"]) {
      await rollouts.moveRolloutStack(key, id, ["PENDING"], "UPDATING", {
        fromRun: 1,
        startedAt: new Date(clock).toISOString(),
      });
    }
    clock += 10_000;
    await end(service, team, "st-00", "SUCCEEDED");
    expect(updater.started()).toEqual(["st-00"]);
    // st-02 has run since (someone reran it): its run's end will tell; st-01 never started.
    await store.updateStack({ team, stackId: "st-02" }, { run: 2 });
    clock += 30_000;
    await service.advance(key);
    expect(updater.started()).toEqual(["st-00", "st-01"]);
    const view = await service.get(admin(team), team, body.rolloutId);
    expect(view.stacks[1]).toMatchObject({ state: "UPDATING", execution: "st-01-update-2" });
    await service.advance(key);
    expect(updater.started()).toEqual(["st-00", "st-01"]);
  });
});
