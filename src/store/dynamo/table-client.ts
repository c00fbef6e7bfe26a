import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import type { Item } from "../codec.ts";
import { StoreError } from "../errors.ts";
import type { ItemKey } from "../keys.ts";
import { RESERVED_ATTRS } from "../records.ts";
import { translateError } from "../translate.ts";

/** An item's key as DynamoDB takes it. */
export type ItemKeyAttrs = { pk: AttributeValue; sk: AttributeValue };

/** The table and the client that reaches it. */
export interface TableOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

/** The outcome of a conditional update: the item afterwards, or (condition failed) as it is. */
export type ConditionalUpdate = { ok: true; item: Item } | { ok: false; current: Item | undefined };

/**
 * The one table every part of the DynamoDB store works on: single-item reads and writes, paged
 * queries and batches, each translating what the SDK throws into the store's errors
 * (src/store/translate.ts). The parts (stack runs, templates, the team directory, outbound events,
 * the aws provider's bootstrap leases) share it.
 */
export interface TableClient {
  readonly tableName: string;
  /** Runs one SDK call; what it throws becomes a store error naming `operation` and `what`. */
  send<T>(
    operation: string,
    what: string | undefined,
    run: (client: DynamoDBClient) => Promise<T>,
  ): Promise<T>;
  getItem(key: ItemKeyAttrs, what: string, attrs?: readonly string[]): Promise<Item | undefined>;
  putItem(item: Item, what: string): Promise<void>;
  /** Puts an item unless one with its key exists; returns whether it did. */
  putNew(item: Item, what: string): Promise<boolean>;
  /** An unconditional update. */
  updateItem(input: Omit<UpdateItemCommandInput, "TableName">, what: string): Promise<void>;
  /** Runs a conditional update; on a failed condition returns the item as it is (if any). */
  conditionalUpdate(
    input: Omit<UpdateItemCommandInput, "TableName">,
    what: string,
  ): Promise<ConditionalUpdate>;
  deleteItem(key: ItemKeyAttrs, what: string): Promise<void>;
  /** Every page of a query. */
  queryAll(input: Omit<QueryCommandInput, "TableName">): Promise<Item[]>;
  /** Every page of a scan. */
  scanAll(input: Omit<ScanCommandInput, "TableName">): Promise<Item[]>;
  /** The items of a partition whose sort keys start with `prefix`. */
  queryPrefix(pk: string, prefix: string): Promise<Item[]>;
  /** Reads items by key, 100 at a time, retrying the unprocessed ones. */
  batchGet(keys: readonly ItemKeyAttrs[]): Promise<Item[]>;
  /** Deletes items by key, 25 at a time, retrying the unprocessed ones. */
  batchDelete(keys: readonly ItemKeyAttrs[]): Promise<void>;
  /**
   * Applies a patch with SET/REMOVE, conditional on the item existing; returns the item afterwards
   * (undefined when there is none). `set` writes a field's value (a part may store one otherwise).
   * @throws StoreError for a reserved field, or a `required` one set to undefined.
   */
  patchItem(
    key: ItemKey,
    patch: Record<string, unknown>,
    required: ReadonlySet<string>,
    what: string,
    set: (field: string, value: unknown, set: (attr: string, value: AttributeValue) => void) => void,
  ): Promise<Item | undefined>;
}

/** BatchWriteItem takes at most 25 requests, BatchGetItem at most 100 keys. */
const BATCH_WRITE_SIZE = 25;
const BATCH_GET_SIZE = 100;
const BATCH_RETRIES = 10;

export function createTableClient(options: TableOptions): TableClient {
  const { client, tableName } = options;

  async function send<T>(
    operation: string,
    what: string | undefined,
    run: (c: DynamoDBClient) => Promise<T>,
  ): Promise<T> {
    try {
      return await run(client);
    } catch (err) {
      throw translateError(err, operation, tableName, what);
    }
  }

  async function getItem(
    key: ItemKeyAttrs,
    what: string,
    attrs?: readonly string[],
  ): Promise<Item | undefined> {
    const out = await send("GetItem", what, (c) =>
      c.send(
        new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true, ...projection(attrs) }),
      ),
    );
    return out.Item;
  }

  async function conditionalUpdate(
    input: Omit<UpdateItemCommandInput, "TableName">,
    what: string,
  ): Promise<ConditionalUpdate> {
    let out: UpdateItemCommandOutput;
    try {
      out = await client.send(
        new UpdateItemCommand({
          ...input,
          TableName: tableName,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw translateError(err, "UpdateItem", tableName, what);
      // DynamoDB returns the item with the failure; dynalite does not, so read it.
      const returned = (err as { Item?: Item }).Item;
      return { ok: false, current: returned ?? (await getItem(input.Key as ItemKeyAttrs, what)) };
    }
    return { ok: true, item: out.Attributes ?? {} };
  }

  async function queryAll(input: Omit<QueryCommandInput, "TableName">): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await send("Query", undefined, (c) =>
        c.send(new QueryCommand({ ...input, TableName: tableName, ExclusiveStartKey: start })),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  return {
    tableName,
    send,
    getItem,
    conditionalUpdate,
    queryAll,

    async putItem(item, what) {
      await send("PutItem", what, (c) => c.send(new PutItemCommand({ TableName: tableName, Item: item })));
    },

    async putNew(item, what) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailed(err)) return false;
        throw translateError(err, "PutItem", tableName, what);
      }
    },

    async updateItem(input, what) {
      await send("UpdateItem", what, (c) =>
        c.send(new UpdateItemCommand({ ...input, TableName: tableName })),
      );
    },

    async deleteItem(key, what) {
      await send("DeleteItem", what, (c) =>
        c.send(new DeleteItemCommand({ TableName: tableName, Key: key })),
      );
    },

    async scanAll(input) {
      const items: Item[] = [];
      let start: Item | undefined;
      do {
        const out = await send("Scan", undefined, (c) =>
          c.send(new ScanCommand({ ...input, TableName: tableName, ExclusiveStartKey: start })),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start !== undefined);
      return items;
    },

    queryPrefix(pk, prefix) {
      return queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": { S: pk }, ":prefix": { S: prefix } },
        ConsistentRead: true,
      });
    },

    async batchGet(keys) {
      const items: Item[] = [];
      for (let i = 0; i < keys.length; i += BATCH_GET_SIZE) {
        let pending: ItemKeyAttrs[] = keys.slice(i, i + BATCH_GET_SIZE);
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > BATCH_RETRIES)
            throw new StoreError(`BatchGetItem left keys unprocessed ${attempt} times`);
          if (attempt > 0) await backoff(attempt);
          const out = await send("BatchGetItem", undefined, (c) =>
            c.send(
              new BatchGetItemCommand({
                RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } },
              }),
            ),
          );
          items.push(...(out.Responses?.[tableName] ?? []));
          pending = (out.UnprocessedKeys?.[tableName]?.Keys ?? []) as ItemKeyAttrs[];
        }
      }
      return items;
    },

    async batchDelete(keys) {
      for (let i = 0; i < keys.length; i += BATCH_WRITE_SIZE) {
        let pending: WriteRequest[] = keys
          .slice(i, i + BATCH_WRITE_SIZE)
          .map((Key) => ({ DeleteRequest: { Key } }));
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > BATCH_RETRIES)
            throw new StoreError(`BatchWriteItem left items unprocessed ${attempt} times`);
          if (attempt > 0) await backoff(attempt);
          const out = await send("BatchWriteItem", undefined, (c) =>
            c.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } })),
          );
          pending = out.UnprocessedItems?.[tableName] ?? [];
        }
      }
    },

    async patchItem(key, patch, required, what, extra) {
      const names: Record<string, string> = {};
      const values: Item = {};
      const sets: string[] = [];
      const removes: string[] = [];
      const set = (attr: string, value: AttributeValue) => {
        const n = `#a${Object.keys(names).length}`;
        names[n] = attr;
        const v = `:v${Object.keys(values).length}`;
        values[v] = value;
        sets.push(`${n} = ${v}`);
      };
      const remove = (attr: string) => {
        const n = `#a${Object.keys(names).length}`;
        names[n] = attr;
        removes.push(n);
      };
      for (const [field, value] of Object.entries(patch)) {
        if (RESERVED_ATTRS.has(field)) throw new StoreError(`${what}: \`${field}\` cannot be patched`);
        if (value === undefined) {
          if (required.has(field)) throw new StoreError(`${what}: \`${field}\` cannot be removed`);
          remove(field);
          continue;
        }
        extra(field, value, set);
      }
      const itemKey = keyAttrs(key);
      if (sets.length === 0 && removes.length === 0) return getItem(itemKey, what);
      const expression = [
        sets.length > 0 ? `SET ${sets.join(", ")}` : "",
        removes.length > 0 ? `REMOVE ${removes.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join(" ");
      const out = await conditionalUpdate(
        {
          Key: itemKey,
          UpdateExpression: expression,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: names,
          ...(Object.keys(values).length > 0 && { ExpressionAttributeValues: values }),
          ReturnValues: "ALL_NEW",
        },
        what,
      );
      return out.ok ? out.item : undefined;
    },
  };
}

export function keyAttrs(key: ItemKey): ItemKeyAttrs {
  return { pk: { S: key.pk }, sk: { S: key.sk } };
}

/** The key attributes of an item read with them (a query's or a keys-only index's answer). */
export function keyOfItem(item: Item): ItemKeyAttrs {
  return { pk: item.pk as AttributeValue, sk: item.sk as AttributeValue };
}

/** Only the named attributes (aliased: `name`, `hash` and the like are reserved words). */
export function projection(attrs: readonly string[] | undefined) {
  if (attrs === undefined) return {};
  return {
    ProjectionExpression: attrs.map((_, i) => `#p${i}`).join(", "),
    ExpressionAttributeNames: Object.fromEntries(attrs.map((attr, i) => [`#p${i}`, attr])),
  };
}

function isConditionFailed(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === "ConditionalCheckFailedException";
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(1_000, 10 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
