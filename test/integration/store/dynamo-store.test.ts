import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerRecord, StackKey, StackRecord } from "../../../src/ports/store.ts";
import { createDynamoStore, type DynamoStore } from "../../../src/store/dynamo-store.ts";
import {
  InvalidStoreKeyError,
  ItemTooLargeError,
  ServerRecordNotFoundError,
  StackNotFoundError,
  StoreError,
  StoreUnavailableError,
  TableNotFoundError,
} from "../../../src/store/errors.ts";
import { createTable } from "../../../src/store/table.ts";
import type { WaitUpdate } from "../../../src/store/wait-release.ts";
import { startDynalite, type TestDynalite, testClient } from "./dynalite.ts";
import { bigTemplate, incompressible, random } from "./templates.ts";

const TABLE = "store-test";
let db: TestDynalite;
let store: DynamoStore;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  store = createDynamoStore({
    client: db.client,
    tableName: TABLE,
    now: () => new Date("2030-01-02T03:04:05Z"),
  });
});
afterAll(async () => {
  await db?.close();
});

let counter = 0;
/** A fresh stack id per test, so tests share one table without seeing each other. */
function freshKey(team = "team-a"): StackKey {
  counter++;
  return { team, stackId: `stack-${counter}` };
}

function stack(key: StackKey, overrides: Partial<StackRecord> = {}): StackRecord {
  return {
    ...key,
    member: "ada",
    status: "RUNNING",
    run: 1,
    templateYaml: "servers:\n  - { name: web, provider: sim, type: small }\n",
    templateFile: "stack.yaml",
    templateHash: "abc123",
    userdata: { email: "ada@example.com" },
    simulate: ["aws"],
    createdAt: "2030-01-01T00:00:00.000Z",
    startedAt: "2030-01-01T00:00:00.000Z",
    ...overrides,
  };
}

function server(key: StackKey, name: string, overrides: Partial<ServerRecord> = {}): ServerRecord {
  return {
    ...key,
    name,
    provider: "sim",
    type: "small",
    status: "PENDING",
    deps: [],
    dependents: [],
    pending: [],
    run: 1,
    attempt: 0,
    ...overrides,
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

async function yieldTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("stacks", () => {
  it("creates a stack once and reads back every field", async () => {
    const key = freshKey();
    const record = stack(key, { lock: { run: 1, execution: "exec-1", since: "2030-01-01T00:00:01.000Z" } });
    expect(await store.createStack(record)).toBe(true);
    expect(await store.createStack(stack(key, { member: "bob" }))).toBe(false);
    expect(await store.getStack(key)).toEqual(record);
  });

  it("keeps empty strings and an empty userdata map", async () => {
    const key = freshKey();
    const record = stack(key, { userdata: {}, templateYaml: "", error: "" });
    await store.createStack(record);
    expect(await store.getStack(key)).toEqual(record);
  });

  it("stores the stack's template reference and request hash, and patches them", async () => {
    const key = freshKey();
    const record = stack(key, { template: { name: "base", version: 3 }, requestHash: "req-1" });
    await store.createStack(record);
    expect(await store.getStack(key)).toEqual(record);
    const updated = await store.updateStack(key, {
      template: { name: "base", version: 4 },
      requestHash: undefined,
    });
    expect(updated.template).toEqual({ name: "base", version: 4 });
    expect(updated.requestHash).toBeUndefined();
    expect(await store.getStack(key)).toEqual(updated);
    const raw = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "TEAM#team-a" }, sk: { S: `STACK#${key.stackId}` } },
      }),
    );
    expect(raw.Item?.template).toEqual({ M: { name: { S: "base" }, version: { N: "4" } } });
  });

  it("returns undefined for a stack that is not stored", async () => {
    expect(await store.getStack(freshKey())).toBeUndefined();
  });

  it("round-trips a 900 KB template, stored gzip-compressed under the item limit", async () => {
    const key = freshKey();
    const templateYaml = bigTemplate(900_000, 7);
    expect(templateYaml.length).toBeGreaterThanOrEqual(900_000);
    await store.createStack(stack(key, { templateYaml }));
    expect((await store.getStack(key))?.templateYaml).toBe(templateYaml);
    const raw = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "TEAM#team-a" }, sk: { S: `STACK#${key.stackId}` } },
      }),
    );
    const stored = raw.Item?.templateGz?.B;
    expect(stored?.byteLength).toBeLessThan(400_000);
    expect(raw.Item?.templateYaml).toBeUndefined();
  });

  it("rejects a template too large even when compressed, with ItemTooLargeError", async () => {
    const noise = incompressible(600_000, 11);
    await expect(store.createStack(stack(freshKey(), { templateYaml: noise }))).rejects.toBeInstanceOf(
      ItemTooLargeError,
    );
  });

  it("lists the stacks of one team and of every team, newest first", async () => {
    const teams = [`list-x-${counter}`, `list-y-${counter}`];
    const made: StackKey[] = [];
    for (const [i, team] of [teams[0], teams[1], teams[0], teams[1], teams[0]].entries()) {
      const key = freshKey(team);
      made.push(key);
      await store.createStack(stack(key, { createdAt: `2031-01-0${i + 1}T00:00:00.000Z` }));
    }
    const ofX = await store.listStacks(teams[0]);
    expect(ofX.map((s) => s.stackId)).toEqual([made[4], made[2], made[0]].map((k) => k?.stackId));
    expect(ofX[0]?.templateYaml).toContain("servers:");
    const all = (await store.listStacks()).filter((s) => teams.includes(s.team));
    expect(all.map((s) => s.stackId)).toEqual([...made].reverse().map((k) => k.stackId));
    expect(await store.listStacks("team-nobody")).toEqual([]);
  });

  it("updates a stack: sets defined fields, removes undefined ones, recompresses the template", async () => {
    const key = freshKey();
    await store.createStack(stack(key, { error: "boom" }));
    const after = await store.updateStack(key, {
      status: "SUCCEEDED",
      finishedAt: "2030-01-01T00:10:00.000Z",
      error: undefined,
      templateYaml: "servers: []\n",
    });
    expect(after).toMatchObject({
      status: "SUCCEEDED",
      finishedAt: "2030-01-01T00:10:00.000Z",
      templateYaml: "servers: []\n",
    });
    expect(after.error).toBeUndefined();
    expect(await store.getStack(key)).toEqual(after);
  });

  it("refuses to update a missing stack or to remove a required field", async () => {
    await expect(store.updateStack(freshKey(), { status: "FAILED" })).rejects.toBeInstanceOf(
      StackNotFoundError,
    );
    const key = freshKey();
    await store.createStack(stack(key));
    await expect(store.updateStack(key, { member: undefined })).rejects.toThrow(/`member` cannot be removed/);
  });

  it("rejects names holding the key separator", async () => {
    await expect(store.getStack({ team: "a#b", stackId: "s" })).rejects.toBeInstanceOf(InvalidStoreKeyError);
    await expect(store.getServer(freshKey(), "web#1")).rejects.toBeInstanceOf(InvalidStoreKeyError);
  });
});

describe("lock", () => {
  const holder = (run: number, execution: string) => ({ run, execution, since: "2030-01-01T00:00:00.000Z" });

  it("refuses a second run and names the holder", async () => {
    const key = freshKey();
    await store.createStack(stack(key));
    expect(await store.acquireLock(key, holder(1, "exec-1"))).toEqual({ acquired: true });
    expect(await store.acquireLock(key, holder(2, "exec-2"))).toEqual({
      acquired: false,
      holder: holder(1, "exec-1"),
    });
    expect((await store.getStack(key))?.lock).toEqual(holder(1, "exec-1"));
  });

  it("lets the same run and execution take it again, but not the same run from another execution", async () => {
    const key = freshKey();
    await store.createStack(stack(key));
    await store.acquireLock(key, holder(1, "exec-1"));
    expect(await store.acquireLock(key, holder(1, "exec-1"))).toEqual({ acquired: true });
    expect(await store.acquireLock(key, holder(1, "exec-other"))).toMatchObject({ acquired: false });
  });

  it("steals only from the named execution", async () => {
    const key = freshKey();
    await store.createStack(stack(key));
    await store.acquireLock(key, holder(1, "exec-1"));
    expect(await store.acquireLock(key, holder(2, "exec-2"), { execution: "exec-9" })).toMatchObject({
      acquired: false,
      holder: { execution: "exec-1" },
    });
    expect(await store.acquireLock(key, holder(2, "exec-2"), { execution: "exec-1" })).toEqual({
      acquired: true,
    });
    expect((await store.getStack(key))?.lock).toEqual(holder(2, "exec-2"));
  });

  it("releases only for the holder, then lets the next run in", async () => {
    const key = freshKey();
    await store.createStack(stack(key));
    await store.acquireLock(key, holder(1, "exec-1"));
    expect(await store.releaseLock(key, "exec-2")).toBe(false);
    expect(await store.releaseLock(key, "exec-1")).toBe(true);
    expect(await store.releaseLock(key, "exec-1")).toBe(false);
    expect((await store.getStack(key))?.lock).toBeUndefined();
    expect(await store.acquireLock(key, holder(2, "exec-2"))).toEqual({ acquired: true });
  });

  it("gives the lock to exactly one of many concurrent runs", async () => {
    const key = freshKey();
    await store.createStack(stack(key));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.acquireLock(key, holder(i + 1, `exec-${i + 1}`))),
    );
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const lock = (await store.getStack(key))?.lock;
    for (const r of results) if (!r.acquired) expect(r.holder).toEqual(lock);
  });

  it("fails with StackNotFoundError to lock a missing stack", async () => {
    await expect(store.acquireLock(freshKey(), holder(1, "e"))).rejects.toBeInstanceOf(StackNotFoundError);
    expect(await store.releaseLock(freshKey(), "e")).toBe(false);
  });
});

describe("servers", () => {
  it("puts, gets and lists servers, with pending stored as a set", async () => {
    const key = freshKey();
    const db1 = server(key, "db", { dependents: ["web"], artifacts: { IP: "10.0.0.1" } });
    const web = server(key, "web", { deps: ["db", "cache"], pending: ["db", "cache"], createdRun: 1 });
    await store.putServer(db1);
    await store.putServer(web);
    expect(await store.getServer(key, "db")).toEqual(db1);
    expect(await store.getServer(key, "web")).toEqual({ ...web, pending: ["cache", "db"] });
    expect(await store.getServer(key, "nope")).toBeUndefined();
    expect((await store.listServers(key)).map((s) => s.name)).toEqual(["db", "web"]);
  });

  it("stores only the record's own fields when given a wait update back", async () => {
    const key = freshKey();
    await store.putServer(server(key, "solo"));
    const update = await store.setWaitToken(key, "solo", 1, "t");
    expect(update.release).toBeDefined();
    await store.putServer(update);
    const { release: _, ...record } = update;
    expect(await store.getServer(key, "solo")).toEqual(record);
  });

  it("updates a server: sets, removes, and empties pending", async () => {
    const key = freshKey();
    await store.putServer(server(key, "web", { pending: ["db"], error: "old" }));
    const after = await store.updateServer(key, "web", { status: "CREATING", error: undefined, pending: [] });
    expect(after).toMatchObject({ status: "CREATING", pending: [] });
    expect(after.error).toBeUndefined();
    expect(await store.updateServer(key, "web", { pending: ["a", "b", "a"] })).toMatchObject({
      pending: ["a", "b"],
    });
    await expect(store.updateServer(key, "nope", { status: "FAILED" })).rejects.toBeInstanceOf(
      ServerRecordNotFoundError,
    );
  });

  it("lists 3,000 servers across several pages", async () => {
    const key = freshKey();
    const names = Array.from({ length: 3_000 }, (_, i) => `server-${String(i).padStart(4, "0")}`);
    const padding = "x".repeat(300); // ~1.2 MB in all: more than one 1 MB page
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(
        names.slice(i, i + 100).map((name) => store.putServer(server(key, name, { error: padding }))),
      );
    }
    let queries = 0;
    db.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "QueryCommand") queries++;
        return next(args);
      },
      { step: "initialize", name: "countQueries" },
    );
    try {
      const listed = await store.listServers(key);
      expect(listed.map((s) => s.name)).toEqual(names);
    } finally {
      db.client.middlewareStack.remove("countQueries");
    }
    expect(queries).toBeGreaterThan(1);
  });
});

describe("wait protocol", () => {
  async function waiting(key: StackKey, name: string, deps: string[], run = 1): Promise<void> {
    await store.putServer(server(key, name, { deps, pending: deps, status: "WAITING", run }));
  }
  const released = (updates: WaitUpdate[]) => updates.filter((u) => u.release !== undefined);

  it("tells the caller whose update completes readiness to release: the last dependency", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db", "cache"]);
    const t = await store.setWaitToken(key, "web", 1, "token-1");
    expect(t.release).toBeUndefined();
    expect(t.waitToken).toBe("token-1");
    expect((await store.removePending(key, "web", 1, "db")).release).toBeUndefined();
    const last = await store.removePending(key, "web", 1, "cache");
    expect(last.release).toEqual({ token: "token-1", outcome: "success" });
    expect(last.pending).toEqual([]);
    // A late duplicate from another dependency is not told again.
    expect((await store.removePending(key, "web", 1, "db")).release).toBeUndefined();
  });

  it("tells the token's setter to release when every dependency was ready before it waited", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db"]);
    expect((await store.removePending(key, "web", 1, "db")).release).toBeUndefined();
    const t = await store.setWaitToken(key, "web", 1, "token-1");
    expect(t.release).toEqual({ token: "token-1", outcome: "success" });
  });

  it("tells a server without dependencies to release as soon as it waits", async () => {
    const key = freshKey();
    await waiting(key, "solo", []);
    expect((await store.setWaitToken(key, "solo", 1, "t")).release).toEqual({
      token: "t",
      outcome: "success",
    });
  });

  it("tells a retried call that had claimed the release again, and nobody else", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db"]);
    await store.setWaitToken(key, "web", 1, "token-1");
    const first = await store.removePending(key, "web", 1, "db");
    const retry = await store.removePending(key, "web", 1, "db");
    expect(first.release).toEqual({ token: "token-1", outcome: "success" });
    expect(retry.release).toEqual(first.release);
    expect((await store.setWaitToken(key, "web", 1, "token-1")).release).toBeUndefined();
  });

  it("releases a new token once the wait is retried with it", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db"]);
    await store.setWaitToken(key, "web", 1, "token-1");
    expect((await store.removePending(key, "web", 1, "db")).release?.token).toBe("token-1");
    // The wait state was retried (token-1 timed out): its new token is released by its own setter.
    expect((await store.setWaitToken(key, "web", 1, "token-2")).release).toEqual({
      token: "token-2",
      outcome: "success",
    });
  });

  it("records the first failed dependency and tells one caller to send failure", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db", "cache"]);
    expect((await store.setFailedDep(key, "web", 1, "db")).release).toBeUndefined();
    const t = await store.setWaitToken(key, "web", 1, "token-1");
    expect(t.release).toEqual({ token: "token-1", outcome: "failure", failedDep: "db" });
    const second = await store.setFailedDep(key, "web", 1, "cache");
    expect(second.failedDep).toBe("db");
    expect(second.release).toBeUndefined();
  });

  it("ignores updates from an older run and returns the record unchanged", async () => {
    const key = freshKey();
    await waiting(key, "web", ["db"], 2);
    const before = await store.getServer(key, "web");
    const stale = [
      await store.setWaitToken(key, "web", 1, "old-token"),
      await store.removePending(key, "web", 1, "db"),
      await store.setFailedDep(key, "web", 1, "db"),
    ];
    for (const update of stale) {
      expect(update).toEqual(before);
      expect(update.release).toBeUndefined();
    }
    expect(await store.getServer(key, "web")).toEqual(before);
  });

  it("fails with ServerRecordNotFoundError for a server that is not stored", async () => {
    await expect(store.removePending(freshKey(), "ghost", 1, "db")).rejects.toBeInstanceOf(
      ServerRecordNotFoundError,
    );
  });

  it("tells exactly one caller to release under 200 random interleavings with retries", async () => {
    const key = freshKey();
    const rand = random(42);
    const deps = ["a", "b", "c"];
    const winners = new Set<string>();
    async function race(i: number): Promise<void> {
      const name = `w${i}`;
      await waiting(key, name, deps);
      type Call = { who: string; run: () => Promise<WaitUpdate> };
      const calls: Call[] = [
        { who: "wait", run: () => store.setWaitToken(key, name, 1, `token-${i}`) },
        ...deps.map((d) => ({ who: d, run: () => store.removePending(key, name, 1, d) })),
      ];
      // Retries of random calls (a Lambda retried after a lost response), racing with the rest.
      for (let r = Math.floor(rand() * 3); r > 0; r--) calls.push(calls[Math.floor(rand() * 4)] as Call);
      const delays = calls.map(() => Math.floor(rand() * 4));
      const order = shuffle([...calls.keys()], rand);
      const results = await Promise.all(
        order.map(async (n) => {
          await yieldTurns(delays[n] ?? 0);
          return { who: (calls[n] as Call).who, update: await (calls[n] as Call).run() };
        }),
      );
      const releasers = new Set(results.filter((r) => r.update.release !== undefined).map((r) => r.who));
      expect(releasers.size, `interleaving ${i}`).toBe(1);
      for (const who of releasers) winners.add(who);
      for (const r of results) {
        if (r.update.release) expect(r.update.release).toEqual({ token: `token-${i}`, outcome: "success" });
      }
      expect(await store.getServer(key, name)).toMatchObject({ pending: [], waitToken: `token-${i}` });
    }
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => race(i + j)));
    }
    // The interleavings really differ: the token's setter won some, dependencies won others.
    expect(winners.has("wait")).toBe(true);
    expect(winners.size).toBeGreaterThan(1);
  });

  it("tells exactly one caller to send failure when a dependency fails during the race", async () => {
    const key = freshKey();
    const rand = random(99);
    async function race(i: number): Promise<void> {
      const name = `f${i}`;
      await waiting(key, name, ["a", "b", "c"]);
      const calls = shuffle(
        [
          () => store.setWaitToken(key, name, 1, `token-${i}`),
          () => store.removePending(key, name, 1, "a"),
          () => store.removePending(key, name, 1, "b"),
          () => store.setFailedDep(key, name, 1, "c"),
        ],
        rand,
      );
      const updates = await Promise.all(
        calls.map(async (call) => {
          await yieldTurns(Math.floor(rand() * 3));
          return call();
        }),
      );
      expect(released(updates).map((u) => u.release)).toEqual([
        { token: `token-${i}`, outcome: "failure", failedDep: "c" },
      ]);
    }
    for (let i = 0; i < 60; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => race(i + j)));
  });
});

describe("hooks, artifacts and events", () => {
  it("lists hooks pre first, in index order", async () => {
    const key = freshKey();
    const hook = (phase: "pre" | "post", index: number) => ({
      ...key,
      phase,
      index,
      type: "run_script",
      status: "SUCCEEDED" as const,
      run: 1,
      exitCode: 0,
      output: "ok",
    });
    for (const h of [hook("post", 0), hook("pre", 10), hook("pre", 2), hook("post", 1)])
      await store.putHook(h);
    expect((await store.listHooks(key)).map((h) => `${h.phase}${h.index}`)).toEqual([
      "pre2",
      "pre10",
      "post0",
      "post1",
    ]);
    expect((await store.listHooks(key))[0]).toEqual(hook("pre", 2));
  });

  it("stores stack artifacts and reads none as empty", async () => {
    const key = freshKey();
    expect(await store.getArtifacts(key)).toEqual({});
    await store.putArtifacts(key, { domainName: "ada.example.com", stackId: key.stackId });
    expect(await store.getArtifacts(key)).toEqual({ domainName: "ada.example.com", stackId: key.stackId });
  });

  it("numbers concurrent events 1..n per stack and lists them after a sequence number", async () => {
    const key = freshKey();
    const other = freshKey();
    await store.createStack(stack(key));
    await store.createStack(stack(other));
    const appended = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.appendEvent(key, { type: "ServerReady", server: `s${i}`, message: `m${i}` }),
      ),
    );
    await store.appendEvent(other, { type: "StackStarted", message: "other" });
    expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    expect(appended[0]?.at).toBe("2030-01-02T03:04:05.000Z");
    const all = await store.listEvents(key);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect((await store.listEvents(key, 27)).map((e) => e.seq)).toEqual([28, 29, 30]);
    expect(await store.listEvents(key, 30)).toEqual([]);
    expect(await store.listEvents(other)).toEqual([
      { seq: 1, at: "2030-01-02T03:04:05.000Z", type: "StackStarted", message: "other" },
    ]);
  });

  it("refuses to append an event to a missing stack", async () => {
    await expect(store.appendEvent(freshKey(), { type: "X", message: "y" })).rejects.toBeInstanceOf(
      StackNotFoundError,
    );
  });
});

describe("deleteStack", () => {
  it("removes every item of the stack and nothing of a stack whose id extends it", async () => {
    const key = { team: "team-del", stackId: `s${counter++}` };
    const longer = { team: "team-del", stackId: `${key.stackId}0` };
    for (const k of [key, longer]) {
      await store.createStack(stack(k));
      for (let i = 0; i < 60; i++) await store.putServer(server(k, `srv${i}`));
      await store.putHook({ ...k, phase: "pre", index: 0, type: "x", status: "PENDING", run: 1 });
      await store.putArtifacts(k, { a: "b" });
      await store.appendEvent(k, { type: "T", message: "m" });
    }
    await store.deleteStack(key);
    expect(await store.getStack(key)).toBeUndefined();
    expect(await store.listServers(key)).toEqual([]);
    expect(await store.listHooks(key)).toEqual([]);
    expect(await store.getArtifacts(key)).toEqual({});
    expect(await store.listEvents(key)).toEqual([]);
    expect(await store.getStack(longer)).toBeDefined();
    expect(await store.listServers(longer)).toHaveLength(60);
    await store.deleteStack(key); // nothing left: still fine
  });
});

describe("errors", () => {
  it("translates a missing table into TableNotFoundError", async () => {
    const missing = createDynamoStore({ client: db.client, tableName: "no-such-table" });
    const err = await missing.getStack(freshKey()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TableNotFoundError);
    expect((err as Error).name).toBe("TableNotFoundError");
  });

  it("translates an unreachable endpoint into StoreUnavailableError", async () => {
    const client = testClient("http://127.0.0.1:9"); // discard port: nothing listens
    const err = await createDynamoStore({ client, tableName: TABLE })
      .getStack(freshKey())
      .catch((e: unknown) => e);
    client.destroy();
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toBeInstanceOf(StoreError);
  });

  it("creates the table idempotently", async () => {
    expect(await createTable(db.client, TABLE)).toBe(false);
    expect(await createTable(db.client, "store-test-2")).toBe(true);
    expect(await createTable(db.client, "store-test-2")).toBe(false);
  });
});
