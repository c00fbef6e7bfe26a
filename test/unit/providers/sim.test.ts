import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CreateServerRequest, Provider, ServerRef } from "../../../src/ports/provider.ts";
import { ProviderError, ProviderRequestError, ServerNotFoundError } from "../../../src/providers/errors.ts";
import {
  createSimProvider,
  listSimCreations,
  parseSimOptions,
  simAttemptFails,
} from "../../../src/providers/sim/sim-provider.ts";
import { createMemoryRateBudget } from "../../../src/shared/memory-rate-budget.ts";

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "teamstack-sim-"));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

function request(overrides: Partial<CreateServerRequest> = {}): CreateServerRequest {
  return {
    stackId: "stack-1",
    team: "team",
    member: "ada",
    server: "web",
    type: "t3.micro",
    options: {},
    userData: "echo hi",
    idempotencyToken: "web#1",
    ...overrides,
  };
}

function refOf(req: CreateServerRequest, id: string): ServerRef {
  return { stackId: req.stackId, server: req.server, id };
}

async function attempt(provider: Provider, req: CreateServerRequest) {
  const artifacts = await provider.create(req);
  return { artifacts, ready: await provider.waitUntilReady(refOf(req, artifacts.Id)) };
}

describe("sim provider", () => {
  it("returns the same artifacts for a server from every instance; a later attempt is a new server", async () => {
    const a = await createSimProvider({ stateDir }).create(request());
    const b = await createSimProvider({ stateDir }).create(request({ idempotencyToken: "web#2" }));
    // An instance without a state directory counts its own attempts: its first is the same server.
    const c = await createSimProvider().create(request({ idempotencyToken: "web#9" }));
    expect(c).toEqual(a);
    // The second attempt (made again after a failure, or replaced by an update) has a new id and address.
    expect(b.Id).not.toBe(a.Id);
    expect(b.IP).not.toBe(a.IP);
    expect(b).toMatchObject({ Hostname: "web", Provider: "sim", PrivateIP: b.IP });
    expect(a).toMatchObject({
      Hostname: "web",
      Provider: "sim",
      Type: "t3.micro",
      Region: "sim",
      PrivateIP: a.IP,
      PublicIP: a.IP,
    });
    expect(a.Id).toMatch(/^sim-[0-9a-f]{12}$/);
    expect(a.IP).toMatch(/^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    const other = await createSimProvider().create(request({ server: "db" }));
    expect(other.Id).not.toBe(a.Id);
    expect(other.Hostname).toBe("db");
  });

  it("counts one attempt per token however often create is called with it", async () => {
    const provider = createSimProvider({ stateDir });
    const req = request({ options: { fail: "once" } });
    await Promise.all([provider.create(req), provider.create(req)]);
    const first = await attempt(provider, req);
    expect(first.ready.ready).toBe(false);
    // Same token again: still attempt 1, still failing; a new token is attempt 2.
    expect((await attempt(provider, req)).ready.ready).toBe(false);
    expect(
      (await attempt(provider, request({ options: { fail: "once" }, idempotencyToken: "web#2" }))).ready,
    ).toEqual({
      ready: true,
    });
  });

  it("becomes ready at once by default", async () => {
    const provider = createSimProvider();
    const started = performance.now();
    expect((await attempt(provider, request())).ready).toEqual({ ready: true });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it("waits boot_ms from creation, also when a new instance re-attaches later", async () => {
    let clock = 1_000_000;
    const now = (): number => clock;
    const req = request({ options: { boot_ms: 150 } });
    const artifacts = await createSimProvider({ stateDir, now }).create(req);

    const fresh = createSimProvider({ stateDir, now });
    let started = performance.now();
    expect(await fresh.waitUntilReady(refOf(req, artifacts.Id))).toEqual({ ready: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    // A process restarted 120 ms after the create waits only the 30 ms left.
    clock += 120;
    const restarted = createSimProvider({ stateDir, now: () => clock });
    started = performance.now();
    await restarted.waitUntilReady(refOf(req, artifacts.Id));
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(20);
    expect(waited).toBeLessThan(120);
  });

  it("fails every attempt with fail: true, reporting an exit code and output", async () => {
    const provider = createSimProvider();
    for (const token of ["web#1", "web#2", "web#3"]) {
      const { ready } = await attempt(
        provider,
        request({ options: { fail: true }, idempotencyToken: token }),
      );
      expect(ready).toMatchObject({ ready: false, exitCode: 1 });
      if (!ready.ready) {
        expect(ready.reason).toMatch(/simulated failure/);
        expect(ready.output).toContain("web");
      }
    }
  });

  it("fails only the first attempt with fail: once, across two instances on one stateDir", async () => {
    const opts = { fail: "once" };
    const first = await attempt(createSimProvider({ stateDir }), request({ options: opts }));
    expect(first.ready.ready).toBe(false);
    const second = await attempt(
      createSimProvider({ stateDir }),
      request({ options: opts, idempotencyToken: "web#2" }),
    );
    expect(second.ready).toEqual({ ready: true });
    // Destroying the server does not reset its attempts: a third attempt still succeeds.
    const provider = createSimProvider({ stateDir });
    await provider.destroy(refOf(request(), second.artifacts.Id));
    const third = await attempt(provider, request({ options: opts, idempotencyToken: "web#3" }));
    expect(third.ready).toEqual({ ready: true });
    // Another server has attempts of its own.
    expect((await attempt(provider, request({ server: "db", options: opts }))).ready.ready).toBe(false);
  });

  it("fails a deterministic share of attempts for a rate and a seed", async () => {
    const outcomes = async (seed: number, rate: number): Promise<boolean[]> => {
      const provider = createSimProvider();
      const results: boolean[] = [];
      for (let i = 0; i < 200; i++) {
        const { ready } = await attempt(
          provider,
          request({ server: `s${i}`, options: { fail: rate, seed } }),
        );
        results.push(!ready.ready);
      }
      return results;
    };
    const run1 = await outcomes(7, 0.3);
    expect(await outcomes(7, 0.3)).toEqual(run1);
    const share = run1.filter(Boolean).length / run1.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.4);
    expect(await outcomes(8, 0.3)).not.toEqual(run1);
    expect((await outcomes(7, 0)).some(Boolean)).toBe(false);
    expect((await outcomes(7, 1)).every(Boolean)).toBe(true);
    // Each attempt draws anew: some server that failed attempt 1 passes a later one.
    const mode = parseSimOptions({ fail: 0.5, seed: 3 }).fail;
    const retried = Array.from({ length: 50 }, (_, i) =>
      [1, 2, 3].map((n) => simAttemptFails(mode, "x", `s${i}`, n)),
    );
    expect(retried.some(([a, b]) => a !== b)).toBe(true);
  });

  it("rejects option values it cannot use, naming the option", async () => {
    const provider = createSimProvider();
    for (const options of [
      { boot_ms: -1 },
      { boot_ms: 1.5 },
      { fail: "sometimes" },
      { fail: 2 },
      { seed: {} },
      { fail_destroy: "twice" },
      { fail_output_bytes: -3 },
      { destroy_ms: 0.5 },
      { create_rate: 0 },
      { create_burst: 2 },
    ]) {
      const err = await provider.create(request({ options })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderRequestError);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as Error).name).toBe("ProviderRequestError");
      expect((err as Error).message).toContain(Object.keys(options)[0]);
    }
  });

  it("prints fail_output_bytes of output when user_data fails (long error messages)", async () => {
    const { ready } = await attempt(
      createSimProvider(),
      request({ options: { fail: true, fail_output_bytes: 10_000 } }),
    );
    expect(ready.ready).toBe(false);
    if (!ready.ready) {
      expect(ready.output?.length).toBeGreaterThanOrEqual(10_000);
      expect(ready.output?.length).toBeLessThan(10_100);
    }
  });

  it("fails destroy with fail_destroy: once the first time only, keeping the server until a destroy succeeds", async () => {
    const provider = createSimProvider({ stateDir });
    const req = request({ options: { fail_destroy: "once" } });
    const { artifacts } = await attempt(provider, req);
    const err = await provider.destroy(refOf(req, artifacts.Id)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderRequestError);
    expect((err as Error).message).toMatch(/could not be destroyed \(simulated failure, destroy attempt 1\)/);
    expect(await provider.waitUntilReady(refOf(req, artifacts.Id))).toEqual({ ready: true });
    await provider.destroy(refOf(req, artifacts.Id));
    expect((await provider.waitUntilReady(refOf(req, artifacts.Id))).ready).toBe(false);
  });

  it("keeps creates within create_rate and create_burst, counting every server of the budget together", async () => {
    let clock = 0;
    const provider = createSimProvider({
      stateDir,
      now: () => clock,
      budget: createMemoryRateBudget({
        now: () => clock,
        sleep: async (ms) => {
          clock += ms;
        },
      }),
    });
    const at: number[] = [];
    for (let i = 0; i < 6; i++) {
      clock = 0;
      await provider.create(request({ server: `s${i}`, options: { create_rate: 4, create_burst: 2 } }));
      at.push(clock);
    }
    // Two at once, then one each 250 ms; the creates recorded at those times.
    expect(at).toEqual([0, 0, 250, 500, 750, 1000]);
    expect((await listSimCreations(stateDir)).map((c) => c.createdAt).sort((a, b) => a - b)).toEqual(at);
  });

  it("keeps one team's create_rate out of another team's creates", async () => {
    let clock = 0;
    const provider = createSimProvider({
      stateDir,
      now: () => clock,
      createWaitMs: 2_000_000,
      budget: createMemoryRateBudget({
        now: () => clock,
        sleep: async (ms) => {
          clock += ms;
        },
      }),
    });
    // A member of team `slow` asks for one create in 1,000 s; team `fast` for 100 a second.
    const slow = { create_rate: 0.001, create_burst: 1 };
    await provider.create(request({ team: "slow", server: "a", options: slow }));
    const at: number[] = [];
    for (const server of ["x", "y", "z"]) {
      clock = 0;
      await provider.create(
        request({
          team: "fast",
          server,
          idempotencyToken: `${server}#1`,
          options: { create_rate: 100, create_burst: 3 },
        }),
      );
      at.push(clock);
    }
    expect(at).toEqual([0, 0, 0]);
    clock = 0;
    await provider.create(request({ team: "slow", server: "c", idempotencyToken: "c#1", options: slow }));
    expect(clock).toBeGreaterThanOrEqual(999_000);
  });

  it("rejects waitUntilReady with the signal's reason when it aborts", async () => {
    const provider = createSimProvider();
    const req = request({ options: { boot_ms: 10_000 } });
    const artifacts = await provider.create(req);
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(new Error("stop waiting")), 30);
    await expect(provider.waitUntilReady(refOf(req, artifacts.Id), controller.signal)).rejects.toThrow(
      "stop waiting",
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(
      provider.waitUntilReady(refOf(req, artifacts.Id), AbortSignal.abort("already")),
    ).rejects.toBe("already");
  });

  it("runs a script and shows what ran, within maxOutputBytes", async () => {
    const provider = createSimProvider();
    const artifacts = await provider.create(request());
    const ref = refOf(request(), artifacts.Id);
    expect(
      await provider.runScript(ref, "echo a\necho b\necho c\n", { timeoutMs: 1000, maxOutputBytes: 1000 }),
    ).toEqual({
      exitCode: 0,
      output: "[sim] ran 3 lines on web\necho a\necho b\necho c\n",
      truncated: false,
    });
    const cut = await provider.runScript(ref, "true", { timeoutMs: 1000, maxOutputBytes: 8 });
    expect(cut).toEqual({ exitCode: 0, output: "[sim] ra", truncated: true });
    await expect(
      provider.runScript({ ...ref, server: "nope" }, "true", { timeoutMs: 1000, maxOutputBytes: 100 }),
    ).rejects.toBeInstanceOf(ServerNotFoundError);
  });

  it("forgets a destroyed server and destroys idempotently", async () => {
    const provider = createSimProvider({ stateDir });
    const req = request({ options: { boot_ms: 100 } });
    const artifacts = await provider.create(req);
    const ref = refOf(req, artifacts.Id);
    const waiting = provider.waitUntilReady(ref);
    await provider.destroy(ref);
    await provider.destroy(ref);
    await provider.destroy({ stackId: "never", server: "made", id: "sim-000000000000" });
    expect(await createSimProvider({ stateDir }).waitUntilReady(ref)).toMatchObject({ ready: false });
    await expect(
      provider.runScript(ref, "true", { timeoutMs: 1000, maxOutputBytes: 100 }),
    ).rejects.toBeInstanceOf(ServerNotFoundError);
    // A wait that began before the destroy ends as "gone" when its boot time is up.
    expect(await waiting).toMatchObject({ ready: false, reason: expect.stringMatching(/does not exist/) });
    // One state file per server, named by a hash: safe for any stack id or server name.
    expect(await readdir(join(stateDir, "sim"))).toHaveLength(1);
  });

  it("destroys by idempotency token a server whose id was never recorded, and only that one", async () => {
    const provider = createSimProvider({ stateDir });
    const req = request({ server: "lost-answer" });
    const artifacts = await provider.create(req);
    const ref = refOf(req, artifacts.Id);
    await provider.destroy({ stackId: req.stackId, server: req.server, id: "", token: "another-attempt" });
    expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
    await provider.destroy({ stackId: req.stackId, server: req.server, id: "" });
    expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
    await provider.destroy({ stackId: req.stackId, server: req.server, id: "", token: req.idempotencyToken });
    expect(await provider.waitUntilReady(ref)).toMatchObject({ ready: false });
  });

  it("keeps servers in memory when it has no stateDir", async () => {
    const a = createSimProvider();
    const artifacts = await a.create(request());
    expect(await a.waitUntilReady(refOf(request(), artifacts.Id))).toEqual({ ready: true });
    expect(await createSimProvider().waitUntilReady(refOf(request(), artifacts.Id))).toMatchObject({
      ready: false,
    });
  });
});
