import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "./api-server.ts";

// The issue's "Done when" for rollouts, end to end through a real `serve` on 127.0.0.1: 20 members'
// stacks on v2 of a sim template; a v3 whose new server fails stops after the canary and leaves 19
// stacks on v2; a good v4 reaches all 20. Every update is the real one (the provision state
// machine on the local runtime). Synchronised on the runs' ends: `idle()` returns once every
// execution serve started has ended, the ones a rollout's waves started included.

let api: TestApi;
let admin: string;
const MEMBERS = Array.from({ length: 20 }, (_, i) => `member-${String(i + 1).padStart(2, "0")}`);

const V2 = [
  "servers:",
  "  - { name: db, provider: sim, type: t3.micro }",
  "  - { name: app, provider: sim, type: t3.micro, depends_on: [db] }",
  "",
].join("\n");
const V3 = `${V2}  - { name: cache, provider: sim, type: t3.micro, options: { fail: true } }\n`;
const V4 = `${V2}  - { name: cache, provider: sim, type: t3.micro }\n`;

interface RolloutView {
  readonly rolloutId: string;
  readonly state: string;
  readonly reason?: string;
  readonly counts: Record<string, number>;
  readonly stacks: { stackId: string; state: string; canary: boolean; error?: string }[];
}
interface StackRow {
  readonly stackId: string;
  readonly member: string;
  readonly status: string;
  readonly version: number | null;
}

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  for (const yaml of ["servers:\n  - { name: db, provider: sim, type: t3.micro }\n", V2]) {
    expect((await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: yaml })).status).toBe(
      201,
    );
  }
  for (const member of MEMBERS) {
    const res = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { template: "web", version: 2, member },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  }
  await api.server.idle();
}, 120_000);

afterAll(async () => {
  await api?.close();
}, 120_000);

async function stacks(): Promise<StackRow[]> {
  return (await api.call("GET", "/teams/acme/stacks", { token: admin })).body as StackRow[];
}

/** Starts a rollout, waits for every run it starts (and theirs) to end, and reads it. */
async function rollout(version: number): Promise<RolloutView> {
  const res = await api.call("POST", "/teams/acme/templates/web/rollout", {
    token: admin,
    body: { version, canary: 1, batch: 5, max_failed_percent: 10 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await api.server.idle();
  const { rolloutId } = res.body as RolloutView;
  return (await api.call("GET", `/teams/acme/rollouts/${rolloutId}`, { token: admin })).body as RolloutView;
}

describe("a rollout to 20 members' stacks", () => {
  it("starts from 20 stacks on v2", async () => {
    const rows = await stacks();
    expect(rows).toHaveLength(20);
    expect(rows.every((s) => s.status === "SUCCEEDED" && s.version === 2)).toBe(true);
  });

  it("stops after the canary when v3's new server fails, and leaves 19 stacks on v2", async () => {
    expect((await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: V3 })).status).toBe(201);
    const outdated = await api.call("GET", "/teams/acme/stacks?outdated=true", { token: admin });
    expect(outdated.body).toHaveLength(20);
    const view = await rollout(3);
    expect(view.state).toBe("STOPPED");
    expect(view.reason).toMatch(/the canary failed/);
    expect(view.counts).toMatchObject({ FAILED: 1, SKIPPED: 19, SUCCEEDED: 0, UPDATING: 0, PENDING: 0 });
    const canary = view.stacks.find((s) => s.canary);
    expect(canary?.state).toBe("FAILED");
    const rows = await stacks();
    const others = rows.filter((s) => s.stackId !== canary?.stackId);
    expect(others).toHaveLength(19);
    expect(others.every((s) => s.version === 2 && s.status === "SUCCEEDED")).toBe(true);
    const events = await api.engine.store.listOutboundEvents();
    expect(events.filter((e) => e.detailType === "Rollout Finished")).toEqual([
      expect.objectContaining({
        detail: expect.objectContaining({ rolloutId: view.rolloutId, state: "STOPPED" }),
      }),
    ]);
  }, 120_000);

  it("takes a good v4 to all 20", async () => {
    expect((await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: V4 })).status).toBe(201);
    const view = await rollout(4);
    expect(view.state, view.reason).toBe("SUCCEEDED");
    expect(view.counts).toMatchObject({ SUCCEEDED: 20, FAILED: 0, SKIPPED: 0 });
    const rows = await stacks();
    expect(rows.map((s) => [s.version, s.status])).toEqual(Array(20).fill([4, "SUCCEEDED"]));
    const outdated = await api.call("GET", "/teams/acme/stacks?outdated=true", { token: admin });
    expect(outdated.body).toEqual([]);
  }, 120_000);
});
