import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from "@aws-sdk/client-dynamodb";
import { StoreError } from "./errors.ts";
import { STACKS_INDEX } from "./keys.ts";
import { translateError } from "./translate.ts";

/**
 * The table's definition: `pk`/`sk` strings, on-demand billing, and one sparse index holding stack
 * items only (`gsi1pk` = the team partition, `gsi1sk` = creation time and id), keys only so that
 * frequent updates of stack items (the event counter) do not rewrite index copies.
 */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
      { AttributeName: "gsi1pk", AttributeType: "S" },
      { AttributeName: "gsi1sk", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: STACKS_INDEX,
        KeySchema: [
          { AttributeName: "gsi1pk", KeyType: "HASH" },
          { AttributeName: "gsi1sk", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "KEYS_ONLY" },
      },
    ],
  };
}

export interface CreateTableOptions {
  /** How long to wait for the table to become ACTIVE (default 5 minutes). */
  readonly timeoutMs?: number;
}

/**
 * Creates the store's table unless it exists, and waits until it and its index are ACTIVE.
 * Safe to call concurrently and repeatedly.
 * @returns true when this call created the table.
 * @throws StoreError when the table does not become ACTIVE in time or DynamoDB refuses.
 */
export async function createTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateTableOptions = {},
): Promise<boolean> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  let created = false;
  let table = await describe(client, tableName);
  if (table === undefined) {
    try {
      await client.send(new CreateTableCommand(tableDefinition(tableName)));
      created = true;
    } catch (err) {
      // Another caller created it between our describe and create.
      if ((err as { name?: unknown }).name !== "ResourceInUseException") {
        throw translateError(err, "CreateTable", tableName);
      }
    }
    table = await describe(client, tableName);
  }
  let delay = 50;
  while (!isActive(table)) {
    if (Date.now() > deadline) {
      throw new StoreError(
        `DynamoDB table \`${tableName}\` is ${table?.TableStatus ?? "missing"}, expected ACTIVE in time`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2_000);
    table = await describe(client, tableName);
  }
  return created;
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if ((err as { name?: unknown }).name === "ResourceNotFoundException") return undefined;
    throw translateError(err, "DescribeTable", tableName);
  }
}

function isActive(table: TableDescription | undefined): boolean {
  return (
    table?.TableStatus === "ACTIVE" &&
    (table.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === "ACTIVE")
  );
}
