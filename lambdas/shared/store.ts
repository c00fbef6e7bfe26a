import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { requireEnv } from "./env.ts";

/** The store on the table named by TABLE_NAME. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore({ client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) });
}
