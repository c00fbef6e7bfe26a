import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { destroyOrder } from "../../../src/pipeline/destroy.ts";
import type { StackKey } from "../../../src/ports/store.ts";

// The destroy state machine through the local runtime: real ASL, real task functions, dynalite.
let stateDir: string;
let engine: LocalEngine;
let n = 0;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-destroy-"));
  engine = await openLocalEngine({ stateDir });
});

afterAll(async () => {
  await engine.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

async function provisioned(lines: string[]): Promise<StackKey> {
  const yaml = `${lines.join("\n")}\n`;
  const key = { team: "test", stackId: `d${++n}-${Date.now().toString(36)}` };
  const now = new Date().toISOString();
  await engine.store.createStack({
    ...key,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "destroy.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  const outcome = await engine.provision(key);
  expect(outcome.status, outcome.status === "FAILED" ? outcome.cause : "").toBe("SUCCEEDED");
  return key;
}

const sim = (name: string, extra = "") => `  - name: ${name}\n    provider: sim\n    type: t3.micro${extra}`;

/** The order of the stack's ServerDestroyed events, by server. */
async function destroyedOrder(key: StackKey): Promise<string[]> {
  return (await engine.store.listEvents(key))
    .filter((e) => e.type === "ServerDestroyed")
    .map((e) => e.server as string);
}

describe("destroyOrder", () => {
  it("puts every server after the servers that depend on it, and waits only for those", () => {
    const { order, pending, depth } = destroyOrder([
      { name: "db", deps: [] },
      { name: "api", deps: ["db"] },
      { name: "web", deps: ["api", "db", "gone"] },
      { name: "solo", deps: [] },
    ]);
    expect(order).toEqual(["web", "solo", "api", "db"]);
    expect(Object.fromEntries(pending)).toEqual({ web: [], solo: [], api: ["web"], db: ["api", "web"] });
    expect(depth).toBe(3);
  });

  it("drops the edge that closes a cycle left by records of different template versions", () => {
    const { order, pending } = destroyOrder([
      { name: "a", deps: ["b"] },
      { name: "b", deps: ["a"] },
    ]);
    expect(order).toEqual(["a", "b"]);
    expect(Object.fromEntries(pending)).toEqual({ a: [], b: ["a"] });
  });
});

describe("the destroy state machine on the local runtime", () => {
  it("destroys a server as soon as everything depending on it is gone, not level by level", async () => {
    // Level by level, base1 would wait for top2's slow destroy; it waits only for top1.
    const key = await provisioned([
      "servers:",
      sim("base1"),
      sim("base2"),
      sim("top1", "\n    depends_on: [base1]"),
      sim("top2", "\n    depends_on: [base2]\n    options: { destroy_ms: 1500 }"),
    ]);
    const outcome = await engine.destroy(key);
    expect(outcome.status).toBe("SUCCEEDED");
    const order = await destroyedOrder(key);
    expect(order.indexOf("base1")).toBeLessThan(order.indexOf("top2"));
    expect(order.indexOf("top1")).toBeLessThan(order.indexOf("base1"));
    expect(order.indexOf("top2")).toBeLessThan(order.indexOf("base2"));
    const stack = await engine.store.getStack(key);
    expect(stack?.status).toBe("DESTROYED");
    expect(stack?.lock).toBeUndefined();
    for (const s of await engine.store.listServers(key)) expect(s.status, s.name).toBe("DESTROYED");
  });

  it("never deadlocks on a chain at max_parallel 1: items come dependents first", async () => {
    const key = await provisioned([
      "settings: { max_parallel: 1 }",
      "servers:",
      sim("s0"),
      ...Array.from({ length: 5 }, (_, i) => sim(`s${i + 1}`, `\n    depends_on: [s${i}]`)),
    ]);
    expect((await engine.destroy(key)).status).toBe("SUCCEEDED");
    expect(await destroyedOrder(key)).toEqual(["s5", "s4", "s3", "s2", "s1", "s0"]);
  });

  it("keeps what a server that cannot be destroyed depends on, destroys the rest, and fails naming them", async () => {
    const key = await provisioned([
      "servers:",
      sim("net"),
      sim("db", "\n    depends_on: [net]"),
      sim("api", "\n    depends_on: [db]\n    options: { fail_destroy: once }"),
      sim("web", "\n    depends_on: [api]"),
      sim("cache", "\n    depends_on: [net]"),
      sim("solo"),
    ]);
    const outcome = await engine.destroy(key);
    expect(outcome.status).toBe("FAILED");
    const servers = new Map((await engine.store.listServers(key)).map((s) => [s.name, s]));
    for (const name of ["web", "cache", "solo"]) expect(servers.get(name)?.status, name).toBe("DESTROYED");
    expect(servers.get("api")).toMatchObject({ status: "FAILED" });
    expect(servers.get("api")?.error).toMatch(/^destroy failed: sim server api .* could not be destroyed/);
    expect(servers.get("db")).toMatchObject({
      status: "SUCCEEDED",
      error: "kept: `api`, which depends on it, was not destroyed",
    });
    expect(servers.get("net")).toMatchObject({
      status: "SUCCEEDED",
      error: "kept: `db`, which depends on it, was not destroyed",
    });
    const stack = await engine.store.getStack(key);
    expect(stack?.status).toBe("FAILED");
    expect(stack?.lock).toBeUndefined();
    expect(stack?.error).toMatch(/^3 servers not destroyed: /);
    for (const name of ["api", "db", "net"]) expect(stack?.error).toContain(`${name} (`);

    // The next destroy finds the failed destroy fixed (fail_destroy: once) and converges.
    const again = await engine.destroy(key);
    expect(again.status).toBe("SUCCEEDED");
    for (const s of await engine.store.listServers(key)) expect(s.status, s.name).toBe("DESTROYED");
    expect((await engine.store.getStack(key))?.status).toBe("DESTROYED");
  });
});
