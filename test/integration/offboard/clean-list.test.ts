import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { openLocalEngine } from "../../../src/local/engine.ts";
import { DESTROYED_RETENTION_SECONDS } from "../../../src/pipeline/purge.ts";
import { finalJson, runCli } from "../../support/cli.ts";

// Keeping the list clean, through the `teamstack` command as a user runs it: list filters,
// `down --member M --all`, `forget`, and the local purge of destroyed stacks past their 30 days
// (the clock moved forward for the engine that opens the store; no waiting).

let stateDir: string;
let file: string;
const ids: Record<string, string> = {};

async function cli(args: readonly string[], timeout = 60_000) {
  return runCli([...args, "--state-dir", stateDir], timeout);
}

async function up(member: string, team = "local"): Promise<string> {
  const r = await cli(["up", file, "--member", member, "--team", team, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return (finalJson(r.stdout) as { stackId: string }).stackId;
}

async function listed(...filters: string[]): Promise<{ stackId: string; status: string; member: string }[]> {
  const r = await cli(["list", "--json", ...filters]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-clean-"));
  file = join(stateDir, "dev.yaml");
  writeFileSync(
    file,
    [
      "servers:",
      "  - { name: db, provider: sim, type: t3.micro }",
      "  - { name: app, provider: sim, type: t3.micro, user_data: 'echo $servers.db.IP' }",
    ].join("\n"),
  );
  ids.ann1 = await up("ann");
  ids.ann2 = await up("ann", "other");
  ids.bob = await up("bob");
}, 180_000);

afterAll(async () => {
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("keeping the list clean", () => {
  it("filters the list by member and status, and names a status that does not exist", async () => {
    expect((await listed("--member", "ann")).map((s) => s.stackId).sort()).toEqual(
      [ids.ann1, ids.ann2].sort(),
    );
    expect((await listed("--member", "bob", "--status", "succeeded")).map((s) => s.stackId)).toEqual([
      ids.bob,
    ]);
    expect(await listed("--status", "DESTROYED")).toEqual([]);
    const bad = await cli(["list", "--status", "GONE"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "--status `GONE`: expected one of RUNNING, SUCCEEDED, FAILED, DESTROYING, DESTROYED",
    );
  });

  it("refuses to forget a stack that is not destroyed, saying why, and keeps it", async () => {
    const r = await cli(["forget", ids.bob as string]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`stack ${ids.bob} is SUCCEEDED, not DESTROYED: its servers may still exist`);
    expect((await listed("--member", "bob")).map((s) => s.status)).toEqual(["SUCCEEDED"]);
  });

  it("asks for --all before destroying every stack of a member", async () => {
    const r = await cli(["down", "--member", "ann"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("give --all to destroy every stack of member ann");
    expect((await listed("--member", "ann", "--status", "SUCCEEDED")).length).toBe(2);
  });

  it("destroys every stack of a member with down --member --all, reporting each, and leaves the others", async () => {
    const r = await cli(["down", "--member", "ann", "--all", "--json"], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const reports = finalJson(r.stdout) as { stackId: string; status: string }[];
    expect(reports.map((x) => [x.stackId, x.status]).sort()).toEqual(
      [
        [ids.ann1, "DESTROYED"],
        [ids.ann2, "DESTROYED"],
      ].sort(),
    );
    expect((await listed("--member", "ann", "--status", "DESTROYED")).length).toBe(2);
    expect((await listed("--member", "bob")).map((s) => s.status)).toEqual(["SUCCEEDED"]);
    // Again: nothing left to destroy.
    const again = await cli(["down", "--member", "ann", "--all"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("member ann has no stack to destroy");
  }, 150_000);

  it("forgets a destroyed stack at once, its log files with it", async () => {
    const logs = join(stateDir, "logs", "local", ids.ann1 as string);
    expect(existsSync(logs)).toBe(true);
    const r = await cli(["forget", ids.ann1 as string]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`stack ${ids.ann1} forgotten`);
    expect(existsSync(logs)).toBe(false);
    expect(existsSync(join(stateDir, "logs", "local", ids.bob as string))).toBe(true);
    expect((await listed()).map((s) => s.stackId)).not.toContain(ids.ann1);
    const status = await cli(["status", ids.ann1 as string]);
    expect(status.code).toBe(2);
  });

  it("purges a destroyed stack once its 30 days are over, and only that one", async () => {
    // Not due yet: an engine opening a day before the 30 days are over keeps it.
    const early = await openLocalEngine({
      stateDir,
      now: () => new Date(Date.now() + (DESTROYED_RETENTION_SECONDS - 86_400) * 1000),
    });
    const key = { team: "other", stackId: ids.ann2 as string };
    expect((await early.store.getStack(key))?.status).toBe("DESTROYED");
    expect(existsSync(join(stateDir, "logs", "other", ids.ann2 as string))).toBe(true);
    await early.close();
    const late = await openLocalEngine({
      stateDir,
      now: () => new Date(Date.now() + (DESTROYED_RETENTION_SECONDS + 60) * 1000),
    });
    try {
      expect(existsSync(join(stateDir, "logs", "other", ids.ann2 as string))).toBe(false);
      expect(await late.store.getStack(key)).toBeUndefined();
      expect(await late.store.listServers(key)).toEqual([]);
      expect(await late.store.listEvents(key)).toEqual([]);
      expect((await late.store.listStacks()).map((s) => s.stackId)).toEqual([ids.bob]);
    } finally {
      await late.close();
    }
  });
});
