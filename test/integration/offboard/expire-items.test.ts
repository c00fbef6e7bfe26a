import { QueryCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackKey, StackRecord } from "../../../src/ports/store.ts";
import { createDynamoStore, type DynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "../store/dynalite.ts";

// The TTL attribute DynamoDB deletes a destroyed stack's items by: on every item of the stack
// (stack, servers, hooks, artifacts, events), read back from the table itself; none on another
// stack's items; and gone again when the stack is destroyed again.

const TABLE = "expire-test";
let db: TestDynalite;
let store: DynamoStore;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  store = createDynamoStore({ client: db.client, tableName: TABLE });
});

afterAll(async () => {
  await db?.close();
});

function stack(key: StackKey): StackRecord {
  return {
    ...key,
    member: "ada",
    status: "DESTROYED",
    run: 2,
    templateYaml: "servers: []",
    templateFile: "t.yaml",
    templateHash: "h",
    userdata: {},
    simulate: [],
    createdAt: "2030-01-01T00:00:00.000Z",
    startedAt: "2030-01-01T00:00:00.000Z",
  };
}

async function fill(key: StackKey): Promise<void> {
  await store.createStack(stack(key));
  for (const name of ["db", "app"]) {
    await store.putServer({
      ...key,
      name,
      provider: "sim",
      type: "t3.micro",
      status: "DESTROYED",
      deps: [],
      dependents: [],
      pending: [],
      run: 2,
      attempt: 1,
    });
  }
  await store.putHook({
    ...key,
    phase: "pre",
    index: 0,
    type: "add_github_user",
    status: "SUCCEEDED",
    run: 1,
  });
  await store.putHook({
    ...key,
    phase: "undo",
    index: 0,
    type: "add_github_user",
    status: "SUCCEEDED",
    run: 2,
  });
  await store.putArtifacts(key, { domainName: "ada.acme.teamstack.local" });
  await store.appendEvent(key, { type: "StackDestroyed", message: "destroyed" });
}

/** Every item of the team's partition whose sort key starts with `STACK#id`, with its purgeAt. */
async function purgeAts(key: StackKey): Promise<Record<string, string | undefined>> {
  const out = await db.client.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :sk)",
      ExpressionAttributeValues: { ":pk": { S: `TEAM#${key.team}` }, ":sk": { S: `STACK#${key.stackId}` } },
    }),
  );
  return Object.fromEntries((out.Items ?? []).map((i) => [i.sk?.S as string, i.purgeAt?.N]));
}

describe("expireStack", () => {
  it("sets purgeAt on every item of the stack and of no other, and removes it again", async () => {
    const key = { team: "acme", stackId: "st-1" };
    const other = { team: "acme", stackId: "st-10" };
    await fill(key);
    await fill(other);
    await store.expireStack(key, 1_900_000_000);
    const items = await purgeAts(key);
    const mine = Object.entries(items).filter(([sk]) => sk === "STACK#st-1" || sk.startsWith("STACK#st-1#"));
    // stack, 2 servers, 2 hooks, artifacts, the event counter's and the event's items at least.
    expect(mine.length).toBeGreaterThanOrEqual(7);
    for (const [sk, at] of mine) expect(at, sk).toBe("1900000000");
    expect((await store.getStack(key))?.purgeAt).toBe(1_900_000_000);
    expect(Object.values(await purgeAts(other)).every((at) => at === undefined)).toBe(true);

    await store.expireStack(key, undefined);
    expect(Object.values(await purgeAts(key)).every((at) => at === undefined)).toBe(true);
    expect((await store.getStack(key))?.purgeAt).toBeUndefined();
  });
});
