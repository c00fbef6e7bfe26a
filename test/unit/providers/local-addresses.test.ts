import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  candidateAddress,
  leaseAddress,
  leasedAddresses,
  releaseAddress,
} from "../../../src/providers/local/addresses.ts";
import { SandboxBusyError } from "../../../src/providers/local/errors.ts";
import { withLock } from "../../../src/providers/local/lock.ts";

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "teamstack-addr-"));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe("local sandbox addresses", () => {
  it("derives every candidate inside 127/8 but outside 127.0.0.0/16, never .0 or .255 last", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.nat(300), (stack, server, n) => {
        const parts = candidateAddress(stack, server, n).split(".").map(Number);
        expect(parts[0]).toBe(127);
        expect(parts[1]).toBeGreaterThanOrEqual(1);
        expect(parts[1]).toBeLessThanOrEqual(255);
        expect(parts[2]).toBeLessThanOrEqual(255);
        expect(parts[3]).toBeGreaterThanOrEqual(1);
        expect(parts[3]).toBeLessThanOrEqual(254);
      }),
    );
    expect(candidateAddress("s", "web", 0)).toBe(candidateAddress("s", "web", 0));
    expect(candidateAddress("s", "web", 0)).not.toBe(candidateAddress("s", "db", 0));
  });

  it("gives a server the same address every time and another server a different one", async () => {
    const web = await leaseAddress(stateDir, "s", "web");
    expect(await leaseAddress(stateDir, "s", "web")).toBe(web);
    expect(web).toBe(candidateAddress("s", "web", 0));
    expect(await leaseAddress(stateDir, "s", "db")).not.toBe(web);
  });

  it("moves to the next candidate when another server holds the first", async () => {
    const first = candidateAddress("s", "web", 0);
    await mkdir(join(stateDir, "addresses"));
    await writeFile(join(stateDir, "addresses", first), JSON.stringify({ stackId: "other", server: "y" }));
    expect(await leaseAddress(stateDir, "s", "web")).toBe(candidateAddress("s", "web", 1));
  });

  it("hands out distinct addresses to servers leasing at the same time", async () => {
    const servers = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const addresses = await Promise.all(servers.map((s) => leaseAddress(stateDir, "stack", s)));
    expect(new Set(addresses).size).toBe(servers.length);
    expect(await readdir(join(stateDir, "addresses"))).toHaveLength(servers.length);
  });

  it("releases only the server's own lease and finds leases left by a crash", async () => {
    const web = await leaseAddress(stateDir, "s", "web");
    await releaseAddress(stateDir, web, "s", "db");
    expect(await leasedAddresses(stateDir, "s", "web")).toEqual([web]);
    await releaseAddress(stateDir, web, "s", "web");
    expect(await leasedAddresses(stateDir, "s", "web")).toEqual([]);
    expect(await leasedAddresses(join(stateDir, "nowhere"), "s", "web")).toEqual([]);
  });
});

describe("sandbox lock", () => {
  it("runs one holder at a time within a process", async () => {
    const path = join(stateDir, "x.lock");
    const order: string[] = [];
    const task = (name: string) =>
      withLock(path, "x", 5_000, async () => {
        order.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 30));
        order.push(`${name} out`);
      });
    await Promise.all([task("a"), task("b")]);
    // Either may go first; they never overlap.
    expect([order[0]?.[0], order[1]]).toEqual([order[0]?.[0], `${order[0]?.[0]} out`]);
    expect(order.slice(2)).toEqual(order[0] === "a in" ? ["b in", "b out"] : ["a in", "a out"]);
    expect(await readdir(stateDir)).toEqual([]);
  });

  it("takes over a lock whose owner process has died", async () => {
    const dead = spawnSync("true").pid;
    const path = join(stateDir, "x.lock");
    await writeFile(path, JSON.stringify({ pid: dead, startTime: "1", nonce: "old" }));
    expect(
      await withLock(path, "x", 1_000, async () => JSON.parse(await readFile(path, "utf8")).nonce),
    ).not.toBe("old");
  });

  it("gives up on a lock a live process keeps, naming the process", async () => {
    const path = join(stateDir, "x.lock");
    const self = (await readFile("/proc/self/stat", "utf8")).split(") ")[1]?.split(" ")[19];
    await writeFile(path, JSON.stringify({ pid: process.pid, startTime: self, nonce: "other" }));
    const err = await withLock(path, "the sandbox of web", 100, async () => 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxBusyError);
    expect((err as Error).message).toContain(`process ${process.pid}`);
  });
});
