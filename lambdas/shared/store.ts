import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { TableOptions } from "../../src/store/dynamo/table-client.ts";
import { createDynamoStore, createDynamoTaskStore } from "../../src/store/dynamo-store.ts";
import { requireEnv } from "./env.ts";

let table: TableOptions | undefined;
/** The container's one client of the table named by TABLE_NAME. */
export function awsTable(env: NodeJS.ProcessEnv = process.env): TableOptions {
  table ??= { client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) };
  return table;
}

/** The whole store on the table named by TABLE_NAME: the API's, the signup's and the rollouts'. */
export function buildAwsServiceStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore(awsTable(env));
}

/** The task functions' store on the table named by TABLE_NAME: no template catalog in their bundles. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoTaskStore(awsTable(env));
}
