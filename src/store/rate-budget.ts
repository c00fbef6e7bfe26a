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
 * A call takes its turn with one atomic update and no read: while the budget is busy (`tat` not
 * before the call's arrival) it adds one interval to `tat`, on the condition that the turn this
 * gives is within the caller's wait; when the budget is idle it sets `tat` to the arrival plus one
 * interval, on the condition that it is still idle. Concurrent callers never overwrite each other's
 * turns and retry only when the budget changed between busy and idle. The arrival is the caller's
 * clock plus twice its recent round trip, so that it can go exactly at its turn; one that would go
 * later than lateToleranceMs lets the turn go unused and asks again: the calls as they go then keep
 * to the limit (GCRA schedules any order of arrivals within it). Callers' clocks are assumed to
 * agree to within a few milliseconds (NTP), as every turn is an epoch time.
 */
export interface DynamoRateBudgetOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

type Taken = { ok: true; tat: number } | { ok: false; tat: number | undefined };

/** Tries per call: each is a change of the budget between busy and idle, or a turn missed. */
const MAX_TRIES = 50;
/** How far ahead of its clock a caller asks for its turn, in microseconds: its round trips decide. */
const MIN_LEAD = 5_000;
const MAX_LEAD = 1_000_000;

/**
 * How late a caller may go after its turn, in milliseconds: a caller that would go later (a slow
 * round trip, a busy process) spends the turn unused and asks again, so that calls stay within the
 * limit measured at the moments they go (to within this much).
 */
export function lateToleranceMs(limit: RateLimit): number {
  return Math.max(25, intervalMicros(limit) / 4000);
}

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

  // How long this caller's round trips take: its turns are asked for that far ahead.
  let lead = MIN_LEAD;
  const micros = () => Math.floor(now() * 1000);

  return {
    async take(key, limit: RateLimit, { maxWaitMs }) {
      checkRateLimit(limit);
      const interval = intervalMicros(limit);
      const late = lateToleranceMs(limit) * 1000;
      // Busy first: most calls of a busy budget find it busy.
      let busy = true;
      for (let i = 0; i < MAX_TRIES; i++) {
        const started = micros();
        // The call's arrival in the budget: when it can go at the earliest, once the answer is back.
        const arrival = started + lead;
        const latest = latestTat(started, limit, maxWaitMs);
        const got: Taken = busy
          ? await update(
              {
                expression: "SET tat = tat + :interval",
                condition: "tat >= :arrival AND tat <= :latest",
                values: {
                  ":interval": { N: String(interval) },
                  ":arrival": { N: String(arrival) },
                  ":latest": { N: String(latest) },
                },
              },
              key,
            )
          : await update(
              {
                expression: "SET tat = :next",
                condition: "attribute_not_exists(tat) OR tat < :arrival",
                values: { ":next": { N: String(arrival + interval) }, ":arrival": { N: String(arrival) } },
              },
              key,
            );
        const roundTrip = micros() - started;
        lead = Math.min(MAX_LEAD, Math.max(MIN_LEAD, 2 * roundTrip, Math.floor(lead * 0.9)));
        if (got.ok) {
          const turn = Math.max(turnOf(got.tat, limit), arrival);
          await untilTurn(turn, now, sleep);
          if (micros() - turn <= late) return true;
          // Too late to go now: the turn goes unused (the budget only loses it) and the caller asks again.
          continue;
        }
        if (got.tat === undefined) busy = false;
        else if (got.tat > latest) return false;
        else busy = got.tat >= arrival;
      }
      // No turn it could keep: it takes nothing, and its caller retries later.
      return false;
    },
  };
}
