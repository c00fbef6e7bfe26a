import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { preparePower } from "../../../src/pipeline/power.ts";
import type { StackKey } from "../../../src/ports/store.ts";

// Stop and start through the real power state machine on the local runtime, dynalite and sim.
let stateDir: string;
let engine: LocalEngine;
let n = 0;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-power-"));
  engine = await openLocalEngine({ stateDir });
});

afterAll(async () => {
  await engine.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

async function newStack(yaml: string): Promise<StackKey> {
  const stackId = `p${++n}-${Date.now().toString(36)}`;
  const now = new Date().toISOString();
  await engine.store.createStack({
    team: "test",
    stackId,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "test.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  return { team: "test", stackId };
}

const servers = async (key: StackKey) =>
  new Map((await engine.store.listServers(key)).map((s) => [s.name, s]));
const events = async (key: StackKey) => await engine.store.listEvents(key);

const PAIR = [
  "servers:",
  "  - name: db",
  "    provider: sim",
  "    type: t3.micro",
  "    options: { new_public_ip: true }",
  "    on_start: echo db up",
  "  - name: app",
  "    provider: sim",
  "    type: t3.micro",
  "    user_data: echo first boot",
  "    on_start: echo db at $servers.db.PublicIP",
].join("\n");

describe("the power state machine on sim", () => {
  it("stops and starts a stack: same Ids, STOPPED then SUCCEEDED, on_start after user_data and at each start in dependency order, a new public IP recorded", async () => {
    const key = await newStack(PAIR);
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const made = await servers(key);
    const ran = (await events(key)).filter((e) => e.type === "OnStartRan");
    expect(ran.map((e) => e.server).sort()).toEqual(["app", "db"]);
    // app's on_start references db: it waited for db, and saw db's address.
    expect(ran.find((e) => e.server === "app")?.message).toContain(
      `db at ${made.get("db")?.artifacts?.PublicIP}`,
    );

    const stopped = await engine.stop(key);
    expect(stopped.status).toBe("SUCCEEDED");
    const stack = await engine.store.getStack(key);
    expect(stack?.status).toBe("STOPPED");
    expect(stack?.stoppedAt).toBeDefined();
    expect(stack?.lock).toBeUndefined();
    for (const s of (await servers(key)).values()) expect(s.status).toBe("STOPPED");
    // A provision run (a redrive, an execution started by hand) would make the stopped servers
    // again: Prepare refuses it, changing nothing.
    const refused = await engine.provision(key);
    expect(refused).toMatchObject({ status: "FAILED", error: "StackLockedError" });
    expect(refused.status === "FAILED" && refused.cause).toContain("start it first");
    expect((await engine.store.getStack(key))?.status).toBe("STOPPED");
    for (const s of (await servers(key)).values()) expect(s.status).toBe("STOPPED");

    expect((await engine.start(key)).status).toBe("SUCCEEDED");
    expect((await engine.store.getStack(key))?.status).toBe("SUCCEEDED");
    const after = await servers(key);
    for (const [name, s] of after) {
      expect(s.status).toBe("SUCCEEDED");
      expect(s.artifacts?.Id).toBe(made.get(name)?.artifacts?.Id);
      expect(s.artifacts?.IP).toBe(made.get(name)?.artifacts?.IP);
    }
    // db's public address changed on start: recorded on the server, with an event naming it.
    const newIp = after.get("db")?.artifacts?.PublicIP;
    expect(newIp).not.toBe(made.get("db")?.artifacts?.PublicIP);
    const all = await events(key);
    const changed = all.find((e) => e.type === "ArtifactsChanged");
    expect(changed?.message).toContain(`PublicIP ${made.get("db")?.artifacts?.PublicIP} → ${newIp}`);
    // on_start ran again at the start, app's after db's, with db's new address.
    const second = all.filter((e) => e.type === "OnStartRan").slice(2);
    expect(second.map((e) => e.server)).toEqual(["db", "app"]);
    expect(second[1]?.message).toContain(`db at ${newIp}`);
    const outbound = (await engine.store.listOutboundEvents(key.team)).filter(
      (e) => e.detail.stackId === key.stackId,
    );
    expect(outbound.map((e) => e.detailType)).toEqual([
      "Stack Provisioned",
      "Stack Stopped",
      "Stack Started",
    ]);
    expect(outbound[2]?.detail).toMatchObject({ team: "test", member: "alice", stackId: key.stackId });
  });

  it("fails a stop that the provider refuses: the stack is FAILED with the reason, unlocked, and a second stop finishes it", async () => {
    const key = await newStack(
      [
        "servers:",
        "  - name: a",
        "    provider: sim",
        "    type: t3.micro",
        "    options: { fail_stop: once }",
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const first = await engine.stop(key);
    expect(first.status).toBe("FAILED");
    const failed = await engine.store.getStack(key);
    expect(failed?.status).toBe("FAILED");
    expect(failed?.error).toContain("could not be stopped");
    expect(failed?.lock).toBeUndefined();
    expect((await engine.stop(key)).status).toBe("SUCCEEDED");
    expect((await engine.store.getStack(key))?.status).toBe("STOPPED");
  });

  it("refuses to start a running stack and to stop a destroyed one, changing nothing", async () => {
    const key = await newStack(
      ["servers:", "  - name: a", "    provider: sim", "    type: t3.micro"].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const start = await engine.start(key);
    expect(start.status).toBe("FAILED");
    expect(start.status === "FAILED" && start.error).toBe("PowerRefusedError");
    expect(start.status === "FAILED" && start.cause).toContain("cannot be started: it is succeeded");
    expect((await engine.store.getStack(key))?.status).toBe("SUCCEEDED");
    expect((await engine.store.getStack(key))?.lock).toBeUndefined();
    expect((await engine.destroy(key)).status).toBe("SUCCEEDED");
    const stop = await engine.stop(key);
    expect(stop.status === "FAILED" && stop.error).toBe("PowerRefusedError");
    expect((await engine.store.getStack(key))?.status).toBe("DESTROYED");
  });

  it("acts on an auto_stop once: a retried PreparePower records the expiry once, and one that is not due is refused", async () => {
    const key = await newStack(
      [
        "settings: { auto_stop: 1h }",
        "servers:",
        "  - name: a",
        "    provider: sim",
        "    type: t3.micro",
      ].join("\n"),
    );
    expect((await engine.provision(key)).status).toBe("SUCCEEDED");
    const stopsAt = (await engine.store.getStack(key))?.stopsAt as string;
    expect(Date.parse(stopsAt)).toBeGreaterThan(Date.now() + 3_000_000);
    // Not due yet: refused, nothing changed.
    const early = await engine.expire(key, "stop", stopsAt);
    expect(early.status === "FAILED" && early.error).toBe("ExpiryNotDueError");
    expect((await engine.store.getStack(key))?.status).toBe("SUCCEEDED");

    await engine.store.updateStack(key, { stopsAt: new Date(Date.now() - 1000).toISOString() });
    const deps = {
      store: engine.store,
      executions: engine.executions,
      catalog: engine.providers.catalog,
      events: {
        publish: (e: Parameters<typeof engine.store.putOutboundEvent>[0]) => engine.store.putOutboundEvent(e),
      },
      now: () => new Date(),
    };
    const input = {
      ...key,
      execution: "exec-retried",
      action: "stop" as const,
      request: { expired: { action: "stop", at: stopsAt } },
    };
    const first = await preparePower(deps, input);
    const again = await preparePower(deps, input);
    expect(again).toEqual(first);
    expect((await events(key)).filter((e) => e.type === "StackExpired")).toHaveLength(1);
    const expired = (await engine.store.listOutboundEvents(key.team)).filter(
      (e) => e.detailType === "Stack Expired" && e.detail.stackId === key.stackId,
    );
    expect(expired).toHaveLength(1);
    expect((await engine.store.getStack(key))?.stopsAt).toBeUndefined();
  });
});
