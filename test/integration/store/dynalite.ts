import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";

/** An in-memory dynalite in this process, on a free port: fast, and gone when closed. */
export interface TestDynalite {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  close(): Promise<void>;
}

export async function startDynalite(): Promise<TestDynalite> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = testClient(endpoint);
  return {
    endpoint,
    client,
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function testClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: "local",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
}

/** A dynalite with the teamstack table made, and the store on it: the usual start of a store test. */
export async function startTestStore(
  tableName: string,
): Promise<{ readonly db: TestDynalite; readonly store: ReturnType<typeof createDynamoStore> }> {
  const db = await startDynalite();
  await createTable(db.client, tableName);
  return { db, store: createDynamoStore({ client: db.client, tableName }) };
}
