import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOG_LIMIT_BYTES, type LogKey, type ServerLogs } from "../../../src/ports/server-logs.ts";
import { createDynamoServerLogs, LOG_CHUNK_BYTES } from "../../../src/store/dynamo/server-logs.ts";
import { startTestStore, type TestDynalite } from "./dynalite.ts";

// The ServerLogs adapter on dynalite: attempts numbered by conditional puts, text in bounded chunk
// items under the stack (deleted with it), read from an offset.

let db: TestDynalite;
let logs: ServerLogs;
let store: Awaited<ReturnType<typeof startTestStore>>["store"];
const TABLE = "logs-test";

beforeAll(async () => {
  ({ db, store } = await startTestStore(TABLE));
  logs = createDynamoServerLogs({ client: db.client, tableName: TABLE });
});
afterAll(async () => {
  await db?.close();
});

const key = (stackId: string): LogKey => ({
  team: "acme",
  stackId,
  subject: { kind: "server", name: "web" },
});

describe("the DynamoDB ServerLogs", () => {
  it("numbers attempts, masks, reads from an offset and records the end", async () => {
    expect(await logs.read(key("s-1"))).toBeUndefined();
    const first = await logs.open(key("s-1"), "user_data", ["hunter22"]);
    first.write("pass: hun");
    first.write("ter22\nok\n");
    await first.end(0);
    const page = await logs.read(key("s-1"));
    expect(page).toMatchObject({
      attempt: 1,
      attempts: 1,
      text: "pass: ***\nok\n",
      complete: true,
      exitCode: 0,
    });
    const second = await logs.open(key("s-1"), "on_start", []);
    expect(second.attempt).toBe(2);
    second.write("again\n");
    expect(await logs.read(key("s-1"))).toMatchObject({ attempt: 2, complete: false });
    await second.end(5);
    expect(await logs.read(key("s-1"), { attempt: 1, after: 6 })).toMatchObject({
      offset: 6,
      text: "***\nok\n",
    });
    expect(await logs.read(key("s-1"), { attempt: 3 })).toBeUndefined();
    // Two writers at once never share a number.
    const both = await Promise.all([logs.open(key("s-1"), "hook", []), logs.open(key("s-1"), "hook", [])]);
    expect(both.map((w) => w.attempt).sort()).toEqual([3, 4]);
    await Promise.all(both.map((w) => w.end(0)));
  });

  it("keeps a 3 MiB output within the bound in chunk items of at most 32 KiB, and goes with its stack", async () => {
    const writer = await logs.open(key("s-2"), "user_data", []);
    const line = `${"y".repeat(1023)}\n`;
    for (let i = 0; i < 3 * 1024; i++) writer.write(line);
    writer.write("last\n");
    await writer.end(0);
    let all = "";
    let after = 0;
    for (;;) {
      const page = await logs.read(key("s-2"), { after });
      if (!page) throw new Error("no page");
      all += page.text;
      after = page.next;
      if (page.complete) break;
    }
    expect(Buffer.byteLength(all)).toBeLessThanOrEqual(LOG_LIMIT_BYTES);
    expect(all.endsWith("y\nlast\n")).toBe(true);
    const chunks = await db.client.send(
      new ScanCommand({
        TableName: TABLE,
        FilterExpression: "contains(sk, :c)",
        ExpressionAttributeValues: { ":c": { S: "s-2#LOG#" } },
      }),
    );
    const sizes = (chunks.Items ?? []).map((i) => i.data?.B?.length ?? 0);
    expect(sizes.length).toBeGreaterThan(LOG_LIMIT_BYTES / LOG_CHUNK_BYTES - 1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(LOG_CHUNK_BYTES);
    await store.deleteStack({ team: "acme", stackId: "s-2" });
    expect(await logs.read(key("s-2"))).toBeUndefined();
  });
});
