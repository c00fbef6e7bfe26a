import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  checkRateLimit,
  intervalMicros,
  latestTat,
  type RateBudget,
  type RateLimit,
  turnOf,
  untilTurn,
} from "../ports/rate-budget.ts";
import { translateError } from "./translate.ts";

/**
 * The RateBudget port in the store's table: one item per budget (`pk` = `RATE#<key>`, `sk` =
 * `BUDGET`) holding its theoretical arrival time `tat` (GCRA, see src/ports/rate-budget.ts), so
 * that every container, process and stack naming the budget shares it.
 *
 * A call takes its turn with one atomic update and no read: while the budget is busy (`tat` not in
 * the past) it adds one interval to `tat`, on the condition that the turn this gives is within the
 * caller's wait; when the budget is idle it sets `tat` to now plus one interval, on the condition
 * that it is still idle. Concurrent callers never overwrite each other's turns and never retry more
 * than once per change of state (busy or idle). Callers' clocks are assumed to agree to within a
 * few milliseconds (NTP), as every turn is an epoch time.
 */
export interface DynamoRateBudgetOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

type Taken = { ok: true; tat: number } | { ok: false; tat: number | undefined };

/** Tries per call: each failed condition means the budget changed between busy and idle. */
const MAX_TRIES = 20;

export function rateBudgetKey(key: string): { pk: AttributeValue; sk: AttributeValue } {
  return { pk: { S: `RATE#${key}` }, sk: { S: "BUDGET" } };
}

export function createDynamoRateBudget(options: DynamoRateBudgetOptions): RateBudget {
  const { client, tableName } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  /** Runs a conditional update: the new `tat`, or the item's `tat` as it was when the condition failed. */
  async function update(
    input: { expression: string; condition: string; values: Record<string, AttributeValue> },
    key: string,
  ): Promise<Taken> {
    try {
      const out = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: rateBudgetKey(key),
          UpdateExpression: `${input.expression}, kind = :kind`,
          ConditionExpression: input.condition,
          ExpressionAttributeValues: { ...input.values, ":kind": { S: "RATE_BUDGET" } },
          ReturnValues: "UPDATED_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { ok: true, tat: Number(out.Attributes?.tat?.N) };
    } catch (err) {
      if ((err as { name?: string }).name !== "ConditionalCheckFailedException") {
        throw translateError(err, "UpdateItem", tableName, `rate budget \`${key}\``);
      }
      // DynamoDB returns the item with the failure; dynalite does not, so read it.
      const item =
        (err as { Item?: Record<string, AttributeValue> }).Item ??
        (
          await client
            .send(new GetItemCommand({ TableName: tableName, Key: rateBudgetKey(key), ConsistentRead: true }))
            .catch((e: unknown) => {
              throw translateError(e, "GetItem", tableName, `rate budget \`${key}\``);
            })
        ).Item;
      const old = item?.tat?.N;
      return { ok: false, tat: old === undefined ? undefined : Number(old) };
    }
  }

  return {
    async take(key, limit: RateLimit, { maxWaitMs }) {
      checkRateLimit(limit);
      const interval = { N: String(intervalMicros(limit)) };
      // Idle first only when nothing says otherwise: most calls of a busy budget find it busy.
      let busy = true;
      for (let i = 0; i < MAX_TRIES; i++) {
        const at = Math.floor(now() * 1000);
        const got: Taken = busy
          ? await update(
              {
                expression: "SET tat = tat + :interval",
                condition: "tat >= :now AND tat <= :latest",
                values: {
                  ":interval": interval,
                  ":now": { N: String(at) },
                  ":latest": { N: String(latestTat(at, limit, maxWaitMs)) },
                },
              },
              key,
            )
          : await update(
              {
                expression: "SET tat = :next",
                condition: "attribute_not_exists(tat) OR tat < :now",
                values: { ":next": { N: String(at + intervalMicros(limit)) }, ":now": { N: String(at) } },
              },
              key,
            );
        if (got.ok) {
          await untilTurn(turnOf(got.tat, limit), now, sleep);
          return true;
        }
        if (got.tat === undefined) busy = false;
        else if (got.tat > latestTat(at, limit, maxWaitMs)) return false;
        else busy = got.tat >= at;
      }
      throw translateError(
        new Error(`the budget changed between busy and idle ${MAX_TRIES} times in a row`),
        "UpdateItem",
        tableName,
        `rate budget \`${key}\``,
      );
    },
  };
}
