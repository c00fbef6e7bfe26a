import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { TableOptions } from "../../src/store/dynamo/table-client.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { requireEnv } from "./env.ts";

let table: TableOptions | undefined;
/** The container's one client of the table named by TABLE_NAME. */
export function awsTable(env: NodeJS.ProcessEnv = process.env): TableOptions {
  table ??= { client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) };
  return table;
}

/** The store on the table named by TABLE_NAME. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore(awsTable(env));
}
