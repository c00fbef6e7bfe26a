import { createHash } from "node:crypto";
import { GetItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutboundEvent, TemplateVersion } from "../../../src/ports/store.ts";
import type { DynamoStore } from "../../../src/store/dynamo-store.ts";
import {
  InvalidStoreKeyError,
  ItemTooLargeError,
  StoreError,
  TemplateNotFoundError,
} from "../../../src/store/errors.ts";
import { startTestStore, type TestDynalite } from "./dynalite.ts";
import { bigTemplate, incompressible } from "./templates.ts";

const TABLE = "team-data-test";
let db: TestDynalite;
let store: DynamoStore;

beforeAll(async () => {
  ({ db, store } = await startTestStore(TABLE));
});
afterAll(async () => {
  await db?.close();
});

let counter = 0;
/** A fresh team per test, so tests share one table without seeing each other. */
function freshTeam(): string {
  counter++;
  return `team-${counter}`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function yaml(n: number): string {
  return `servers:\n  - { name: web-${n}, provider: sim, type: small }\n`;
}

function publish(team: string, name: string, text: string, author = "ada") {
  return store.putTemplateVersion({
    team,
    name,
    yaml: text,
    hash: sha256(text),
    author,
    createdAt: "2030-01-01T00:00:00.000Z",
  });
}

/** Does what a publish that died between allocating its number and storing the version leaves. */
async function allocateWithoutStoring(team: string, name: string, text: string): Promise<void> {
  await db.client.send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: `TEAM#${team}` }, sk: { S: `TEMPLATE#${name}` } },
      UpdateExpression: "SET latestHash = :hash ADD latest :one",
      ExpressionAttributeValues: { ":hash": { S: sha256(text) }, ":one": { N: "1" } },
    }),
  );
}

function numbers(versions: readonly TemplateVersion[]): number[] {
  return versions.map((v) => v.version);
}

describe("template versions", () => {
  it("numbers versions 1, 2, 3 and stores each with its hash, author and YAML", async () => {
    const team = freshTeam();
    const published = [];
    for (const n of [1, 2, 3]) published.push(await publish(team, "base", yaml(n), `author-${n}`));
    expect(published.map((p) => [p.version.version, p.created])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    for (const n of [1, 2, 3]) {
      expect(await store.getTemplateVersion(team, "base", n)).toEqual({
        team,
        name: "base",
        version: n,
        yaml: yaml(n),
        hash: sha256(yaml(n)),
        author: `author-${n}`,
        createdAt: "2030-01-01T00:00:00.000Z",
      });
    }
    expect((await store.getTemplateVersion(team, "base"))?.version).toBe(3);
  });

  it("returns the newest version instead of adding one when its YAML is published again", async () => {
    const team = freshTeam();
    await publish(team, "base", yaml(1));
    const again = await publish(team, "base", yaml(1), "bob");
    expect(again.created).toBe(false);
    expect(again.version).toMatchObject({ version: 1, author: "ada", hash: sha256(yaml(1)) });
    await publish(team, "base", yaml(2));
    // Only the newest counts: going back to an older text is a new version.
    expect(await publish(team, "base", yaml(1))).toMatchObject({ version: { version: 3 }, created: true });
    expect(numbers(await store.listTemplateVersions(team, "base"))).toEqual([1, 2, 3]);
  });

  it("gives 10 concurrent publishes of different YAML the numbers 1 to 10, one each", async () => {
    const team = freshTeam();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => publish(team, "base", yaml(i))));
    expect(results.every((r) => r.created)).toBe(true);
    expect(numbers(results.map((r) => r.version)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    const listed = await store.listTemplateVersions(team, "base");
    expect(numbers(listed)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    for (const v of listed) expect(v.hash).toBe(sha256(v.yaml));
    for (const r of results) expect(listed[r.version.version - 1]).toEqual(r.version);
  });

  it("gives concurrent publishes of the same YAML one version, created by exactly one of them", async () => {
    const team = freshTeam();
    const results = await Promise.all(Array.from({ length: 8 }, () => publish(team, "base", yaml(1))));
    expect(new Set(results.map((r) => r.version.version))).toEqual(new Set([1]));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(numbers(await store.listTemplateVersions(team, "base"))).toEqual([1]);
  });

  it("lists versions oldest first, 9 before 10, and keeps templates apart", async () => {
    const team = freshTeam();
    for (let n = 1; n <= 12; n++) await publish(team, "base", yaml(n));
    await publish(team, "base-2", yaml(100));
    const listed = await store.listTemplateVersions(team, "base");
    expect(numbers(listed)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(listed.map((v) => v.yaml)).toEqual(Array.from({ length: 12 }, (_, i) => yaml(i + 1)));
    expect(numbers(await store.listTemplateVersions(team, "base-2"))).toEqual([1]);
  });

  it("reads the newest stored version and keeps publishing after a publish died before storing", async () => {
    const team = freshTeam();
    await publish(team, "base", yaml(1));
    await publish(team, "base", yaml(2));
    await allocateWithoutStoring(team, "base", "lost");
    expect(await store.getTemplateVersion(team, "base", 3)).toBeUndefined();
    expect((await store.getTemplateVersion(team, "base"))?.version).toBe(2);
    expect(await store.listTemplates(team)).toMatchObject([
      { name: "base", latest: 2, hash: sha256(yaml(2)) },
    ]);
    expect(await publish(team, "base", yaml(4))).toMatchObject({ version: { version: 4 }, created: true });
    expect(numbers(await store.listTemplateVersions(team, "base"))).toEqual([1, 2, 4]);
    expect((await store.getTemplateVersion(team, "base"))?.version).toBe(4);
  });

  it("stores the lost version once when the publish that died is retried, even by several at once", async () => {
    const team = freshTeam();
    await publish(team, "base", yaml(1));
    await allocateWithoutStoring(team, "base", yaml(2));
    const retries = await Promise.all(
      Array.from({ length: 5 }, (_, i) => publish(team, "base", yaml(2), `r${i}`)),
    );
    expect(new Set(retries.map((r) => r.version.version))).toEqual(new Set([2]));
    expect(retries.filter((r) => r.created)).toHaveLength(1);
    const stored = await store.getTemplateVersion(team, "base", 2);
    for (const r of retries) expect(r.version).toEqual(stored);
    expect(await publish(team, "base", yaml(2))).toMatchObject({ version: { version: 2 }, created: false });
    expect(numbers(await store.listTemplateVersions(team, "base"))).toEqual([1, 2]);
  });

  it("round-trips a 900 KB template version, stored gzip-compressed under the item limit", async () => {
    const team = freshTeam();
    const text = bigTemplate(900_000, 5);
    expect(text.length).toBeGreaterThanOrEqual(900_000);
    await publish(team, "big", text);
    expect((await store.getTemplateVersion(team, "big", 1))?.yaml).toBe(text);
    expect((await store.listTemplateVersions(team, "big"))[0]?.yaml).toBe(text);
    const raw = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: `TEAM#${team}` }, sk: { S: "TEMPLATE#big#V#0000000001" } },
      }),
    );
    expect(raw.Item?.templateGz?.B?.byteLength).toBeLessThan(400_000);
    expect(raw.Item?.hash).toEqual({ S: sha256(text) });
  });

  it("refuses a version too large even compressed, with ItemTooLargeError, and uses up no number", async () => {
    const team = freshTeam();
    const err = await publish(team, "huge", incompressible(600_000, 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemTooLargeError);
    expect(await publish(team, "huge", yaml(1))).toMatchObject({ version: { version: 1 }, created: true });
  });

  it("returns nothing for a template or version that is not stored", async () => {
    const team = freshTeam();
    await publish(team, "base", yaml(1));
    expect(await store.getTemplateVersion(team, "other")).toBeUndefined();
    for (const v of [2, 0, -1, 1.5]) expect(await store.getTemplateVersion(team, "base", v)).toBeUndefined();
    expect(await store.listTemplateVersions(team, "other")).toEqual([]);
    expect(await store.listTemplates(freshTeam())).toEqual([]);
  });

  it("rejects template, member and event names that cannot be part of a key", async () => {
    const team = freshTeam();
    for (const name of ["a#b", ""]) {
      await expect(publish(team, name, yaml(1))).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.getTemplateVersion(team, name)).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.setDefaultTemplate(team, { name, version: 1 })).rejects.toBeInstanceOf(
        InvalidStoreKeyError,
      );
      await expect(
        store.putMember({ team, member: name, data: {}, updatedAt: "2030-01-01T00:00:00.000Z" }),
      ).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(store.getMember(team, name)).rejects.toBeInstanceOf(InvalidStoreKeyError);
      await expect(
        store.putOutboundEvent(event(name, "2030-01-01T00:00:00.000Z", { team })),
      ).rejects.toBeInstanceOf(InvalidStoreKeyError);
    }
    await expect(publish("a#b", "base", yaml(1))).rejects.toThrow("team `a#b` cannot be stored");
    expect(await store.listTemplates(team)).toEqual([]);
  });
});

describe("templates and the default", () => {
  it("lists a team's templates by name with their newest version, defaultVersion on the default only", async () => {
    const team = freshTeam();
    await publish(team, "web", yaml(1));
    await publish(team, "base", yaml(2));
    await publish(team, "base", yaml(3));
    await publish(freshTeam(), "elsewhere", yaml(4));
    await store.setDefaultTemplate(team, { name: "base", version: 1 });
    expect(await store.listTemplates(team)).toEqual([
      {
        team,
        name: "base",
        latest: 2,
        hash: sha256(yaml(3)),
        updatedAt: "2030-01-01T00:00:00.000Z",
        defaultVersion: 1,
      },
      { team, name: "web", latest: 1, hash: sha256(yaml(1)), updatedAt: "2030-01-01T00:00:00.000Z" },
    ]);
  });

  it("sets, reads and replaces the team's default template", async () => {
    const team = freshTeam();
    await publish(team, "a", yaml(1));
    await publish(team, "b", yaml(1));
    await publish(team, "b", yaml(2));
    expect(await store.getDefaultTemplate(team)).toBeUndefined();
    await store.setDefaultTemplate(team, { name: "a", version: 1 });
    expect(await store.getDefaultTemplate(team)).toEqual({ name: "a", version: 1 });
    await store.setDefaultTemplate(team, { name: "b", version: 2 });
    expect(await store.getDefaultTemplate(team)).toEqual({ name: "b", version: 2 });
    const listed = await store.listTemplates(team);
    expect(listed.map((t) => [t.name, t.defaultVersion])).toEqual([
      ["a", undefined],
      ["b", 2],
    ]);
    expect(listed[0]).not.toHaveProperty("defaultVersion");
  });

  it("refuses an unknown template or version as the default, with TemplateNotFoundError", async () => {
    const team = freshTeam();
    await publish(team, "base", yaml(1));
    await store.setDefaultTemplate(team, { name: "base", version: 1 });
    const unknown = await store
      .setDefaultTemplate(team, { name: "nope", version: 1 })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TemplateNotFoundError);
    expect(unknown).toBeInstanceOf(StoreError);
    expect(unknown).toMatchObject({ name: "TemplateNotFoundError", team, template: "nope", version: 1 });
    expect((unknown as Error).message).toBe(
      `version 1 of template \`nope\` of team \`${team}\` is not in the store: publish it first`,
    );
    await expect(store.setDefaultTemplate(team, { name: "base", version: 2 })).rejects.toMatchObject({
      name: "TemplateNotFoundError",
      version: 2,
    });
    await allocateWithoutStoring(team, "base", "lost");
    await expect(store.setDefaultTemplate(team, { name: "base", version: 2 })).rejects.toBeInstanceOf(
      TemplateNotFoundError,
    );
    expect(await store.getDefaultTemplate(team)).toEqual({ name: "base", version: 1 });
  });
});

describe("members", () => {
  it("puts, gets and overwrites a member's data, per team", async () => {
    const team = freshTeam();
    const other = freshTeam();
    expect(await store.getMember(team, "ada")).toBeUndefined();
    const first = {
      team,
      member: "ada",
      data: { email: "ada@example.com" },
      updatedAt: "2030-01-01T00:00:00.000Z",
    };
    await store.putMember(first);
    expect(await store.getMember(team, "ada")).toEqual(first);
    const second = { team, member: "ada", data: { shell: "zsh" }, updatedAt: "2030-01-02T00:00:00.000Z" };
    await store.putMember(second);
    expect(await store.getMember(team, "ada")).toEqual(second);
    await store.putMember({ ...first, member: "bob", data: {} });
    expect(await store.getMember(team, "bob")).toEqual({ ...first, member: "bob", data: {} });
    expect(await store.getMember(other, "ada")).toBeUndefined();
  });
});

describe("team policies", () => {
  it("has none until set, then puts, replaces and gets one per team, an empty list included", async () => {
    const team = freshTeam();
    const other = freshTeam();
    expect(await store.getTeamPolicy(team)).toBeUndefined();
    const first = {
      team,
      providers: ["aws", "sim"],
      updatedAt: "2030-01-01T00:00:00.000Z",
      updatedBy: "ada",
    };
    await store.putTeamPolicy(first);
    expect(await store.getTeamPolicy(team)).toEqual(first);
    const none = { ...first, providers: [], updatedAt: "2030-01-02T00:00:00.000Z", updatedBy: "bob" };
    await store.putTeamPolicy(none);
    expect(await store.getTeamPolicy(team)).toEqual(none);
    expect(await store.getTeamPolicy(other)).toBeUndefined();
    const raw = await db.client.send(
      new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `TEAM#${team}` }, sk: { S: "POLICY" } } }),
    );
    expect(raw.Item?.kind).toEqual({ S: "POLICY" });
    expect(raw.Item?.providers).toEqual({ L: [] });
  });

  it("refuses a team name that cannot be part of a key", async () => {
    await expect(store.getTeamPolicy("a#b")).rejects.toBeInstanceOf(InvalidStoreKeyError);
  });
});

function event(id: string, time: string, detail: Record<string, unknown> = {}): OutboundEvent {
  return { id, source: "teamstack", detailType: "StackSucceeded", time, detail };
}

describe("outbound events", () => {
  // Each test has teams of its own: a team's events are its partition's.
  it("records an outbound event once per id in its team's partition and lists them oldest first", async () => {
    const team = "events-a";
    const e1 = event("e1", "2030-01-01T00:00:01.000Z", {
      team,
      stackId: "s1",
      nested: { list: [1, null, "x"] },
      none: null,
    });
    const e2 = event("e2", "2030-01-01T00:00:02.000Z", { team });
    const e3 = event("e3", "2030-01-01T00:00:02.000Z", { team });
    const e0 = event("e0", "2030-01-01T00:00:00.000Z", { team });
    for (const e of [e3, e1, e2, e0]) await store.putOutboundEvent(e);
    await store.putOutboundEvent({
      ...e1,
      time: "2030-01-01T00:00:09.000Z",
      detail: { team, retried: true },
    });
    await Promise.all(Array.from({ length: 5 }, () => store.putOutboundEvent(e2)));
    expect(await store.listOutboundEvents(team)).toEqual([e0, e1, e2, e3]);

    // Another team's event of the same id is its own, and neither team sees the other's.
    const other = event("e1", "2030-01-01T00:00:05.000Z", { team: "events-b" });
    await store.putOutboundEvent(other);
    expect(await store.listOutboundEvents("events-b")).toEqual([other]);
    expect(await store.listOutboundEvents(team)).toEqual([e0, e1, e2, e3]);
    // Without a team: every team's, oldest first.
    const all = (await store.listOutboundEvents()).filter((e) => String(e.detail.team).startsWith("events-"));
    expect(all).toEqual([e0, e1, e2, e3, other]);
  });

  it("keeps an event 30 days (the table's TTL attribute), and refuses one that names no team", async () => {
    await store.putOutboundEvent(event("ttl-1", "2030-01-01T00:00:00.000Z", { team: "events-c" }));
    const out = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "TEAM#events-c" }, sk: { S: "EVENT#ttl-1" } },
      }),
    );
    expect(out.Item?.purgeAt).toEqual({ N: String(Date.UTC(2030, 0, 31) / 1000) });
    for (const detail of [{}, { team: "" }, { team: 7 }]) {
      await expect(
        store.putOutboundEvent(event("no-team", "2030-01-01T00:00:00.000Z", detail)),
      ).rejects.toThrow(
        "outbound event `no-team`: its detail names no team: expected `detail.team`, the team it is about",
      );
    }
    await expect(
      store.putOutboundEvent(event("bad-time", "yesterday", { team: "events-c" })),
    ).rejects.toThrow("outbound event `bad-time`: time `yesterday` is not a date: expected an ISO 8601 time");
    expect((await store.listOutboundEvents("events-c")).map((e) => e.id)).toEqual(["ttl-1"]);
  });

  it("lists more outbound events than one page of a query holds", async () => {
    const team = "events-paged";
    const filler = "x".repeat(60_000); // 1.8 MB in all: more than one 1 MB page
    const events = Array.from({ length: 30 }, (_, i) =>
      event(`page-${i}`, new Date(Date.UTC(2031, 0, 1, 0, 0, 30 - i)).toISOString(), { team, filler }),
    );
    await Promise.all(events.map((e) => store.putOutboundEvent(e)));
    let queries = 0;
    db.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "QueryCommand") queries++;
        return next(args);
      },
      { step: "initialize", name: "countQueries" },
    );
    let listed: OutboundEvent[];
    try {
      listed = await store.listOutboundEvents(team);
    } finally {
      db.client.middlewareStack.remove("countQueries");
    }
    expect(queries).toBeGreaterThan(1);
    expect(listed.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    expect(listed[0]?.detail).toEqual({ team, filler });
  });
});
