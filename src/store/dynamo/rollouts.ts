import { DeleteItemCommand } from "@aws-sdk/client-dynamodb";
import { ROLLOUT_STACK_STATES, ROLLOUT_STATES, type RolloutStackState } from "../../core/rollout.ts";
import type {
  RolloutKey,
  RolloutRecord,
  RolloutStackChange,
  RolloutStackRecord,
  Rollouts,
} from "../../ports/rollouts.ts";
import { Fields, fromItem, type Item, opt, toAttr } from "../codec.ts";
import { StoreError } from "../errors.ts";
import {
  activeRolloutKey,
  ITEM_KINDS,
  ROLLOUT_PREFIX,
  rolloutKey,
  rolloutStackKey,
  rolloutStackPrefix,
  teamPk,
} from "../keys.ts";
import { createTableClient, keyAttrs, type TableClient, type TableOptions } from "./table-client.ts";

/**
 * The Rollouts port on the table. Not part of createDynamoStore: only the functions that run
 * rollouts (the API, lambdas/rollout, `serve`) carry it, so the task bundles stay as small.
 */
export function createDynamoRolloutStore(options: TableOptions): Rollouts {
  return createDynamoRollouts(createTableClient(options));
}

/**
 * Rollouts in the table, in the team's partition:
 * - `ROLLOUT#<id>`: the rollout (template, version, wave settings, state, counts at the start);
 * - `ROLLOUT#<id>#STACK#<stackId>`: one item per stack;
 * - `ACTIVE_ROLLOUT#<template>`: which rollout of the template runs (at most one).
 *
 * Why one item per stack rather than a list in the rollout's item: a team's rollout may cover
 * thousands of stacks (each entry is 150 to 400 bytes with its error, so a list would pass the
 * 400 KB item limit near a thousand), and the runner changes stacks concurrently (every update's
 * end is its own trigger): per-stack items make each state change one conditional write on its own
 * item (PENDING to UPDATING by exactly one caller), with no read-modify-write of a shared list.
 */
export function createDynamoRollouts(table: TableClient): Rollouts {
  const rolloutWhat = (key: RolloutKey) => `rollout \`${key.rolloutId}\``;
  const stackWhat = (key: RolloutKey, stackId: string) =>
    `stack \`${stackId}\` of rollout \`${key.rolloutId}\``;

  async function getRollout(key: RolloutKey): Promise<RolloutRecord | undefined> {
    const item = await table.getItem(keyAttrs(rolloutKey(key.team, key.rolloutId)), rolloutWhat(key));
    return item && itemToRollout(item);
  }

  return {
    async claimActiveRollout(team, template, rolloutId, now, staleAfterMs) {
      const key = activeRolloutKey(team, template);
      const what = `running rollout of template \`${template}\``;
      const item: Item = {
        pk: { S: key.pk },
        sk: { S: key.sk },
        kind: { S: ITEM_KINDS.activeRollout },
        team: { S: team },
        template: { S: template },
        rolloutId: { S: rolloutId },
        claimedAt: { S: now.toISOString() },
      };
      if (await table.putNew(item, what)) return { claimed: true };
      const current = await table.getItem(keyAttrs(key), what);
      if (current === undefined) {
        // Released between our put and our read: one more try settles it.
        return (await table.putNew(item, what)) ? { claimed: true } : { claimed: false, holder: "unknown" };
      }
      const holder = new Fields(fromItem(current), "active rollout item");
      const holderId = holder.str("rolloutId");
      if (holderId === rolloutId) return { claimed: true };
      const age = now.getTime() - Date.parse(holder.str("claimedAt"));
      if (age > staleAfterMs && (await getRollout({ team, rolloutId: holderId })) === undefined) {
        const out = await table.conditionalUpdate(
          {
            Key: keyAttrs(key),
            UpdateExpression: "SET rolloutId = :id, claimedAt = :at",
            ConditionExpression: "rolloutId = :old",
            ExpressionAttributeValues: {
              ":id": { S: rolloutId },
              ":at": { S: now.toISOString() },
              ":old": { S: holderId },
            },
            ReturnValues: "NONE",
          },
          what,
        );
        if (out.ok) return { claimed: true };
        const after = out.current
          ? new Fields(fromItem(out.current), "active rollout item").str("rolloutId")
          : "unknown";
        return { claimed: false, holder: after };
      }
      return { claimed: false, holder: holderId };
    },

    async getActiveRollout(team, template) {
      const item = await table.getItem(
        keyAttrs(activeRolloutKey(team, template)),
        `running rollout of template \`${template}\``,
      );
      return item && new Fields(fromItem(item), "active rollout item").str("rolloutId");
    },

    async releaseActiveRollout(team, template, rolloutId) {
      await table.send("DeleteItem", `running rollout of template \`${template}\``, async (client) => {
        try {
          await client.send(
            new DeleteItemCommand({
              TableName: table.tableName,
              Key: keyAttrs(activeRolloutKey(team, template)),
              ConditionExpression: "rolloutId = :id",
              ExpressionAttributeValues: { ":id": { S: rolloutId } },
            }),
          );
        } catch (err) {
          // Another rollout's claim, or none: nothing of ours to release.
          if ((err as { name?: unknown }).name !== "ConditionalCheckFailedException") throw err;
        }
      });
    },

    async putRollout(rollout, stacks) {
      const BATCH = 25;
      for (let i = 0; i < stacks.length; i += BATCH) {
        await Promise.all(
          stacks
            .slice(i, i + BATCH)
            .map((s) => table.putItem(rolloutStackToItem(s), stackWhat(rollout, s.stackId))),
        );
      }
      if (!(await table.putNew(rolloutToItem(rollout), rolloutWhat(rollout)))) {
        throw new StoreError(`${rolloutWhat(rollout)} exists already`);
      }
    },

    getRollout,

    async listRollouts(team) {
      const items = await table.queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        FilterExpression: "kind = :kind",
        ExpressionAttributeValues: {
          ":pk": { S: teamPk(team) },
          ":prefix": { S: ROLLOUT_PREFIX },
          ":kind": { S: ITEM_KINDS.rollout },
        },
        ConsistentRead: true,
      });
      return items
        .map(itemToRollout)
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    },

    async listRolloutStacks(key) {
      const items = await table.queryPrefix(teamPk(key.team), rolloutStackPrefix(key.team, key.rolloutId));
      return items.map(itemToRolloutStack).sort((a, b) => a.index - b.index);
    },

    async getRolloutStack(key, stackId) {
      const item = await table.getItem(
        keyAttrs(rolloutStackKey(key.team, key.rolloutId, stackId)),
        stackWhat(key, stackId),
      );
      return item && itemToRolloutStack(item);
    },

    async moveRolloutStack(key, stackId, from, to, change = {}, olderRunThan) {
      const values: Item = { ":to": { S: to } };
      const names: Record<string, string> = { "#state": "state" };
      const sets = ["#state = :to"];
      addChange(change, names, values, sets);
      const allowed = from.map((state, i) => {
        values[`:from${i}`] = { S: state };
        return `:from${i}`;
      });
      let condition = `attribute_exists(pk) AND #state IN (${allowed.join(", ")})`;
      if (olderRunThan !== undefined) {
        names["#fromRun"] = "fromRun";
        values[":run"] = { N: String(olderRunThan) };
        condition += " AND (attribute_not_exists(#fromRun) OR #fromRun < :run)";
      }
      const out = await table.conditionalUpdate(
        {
          Key: keyAttrs(rolloutStackKey(key.team, key.rolloutId, stackId)),
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: "ALL_NEW",
        },
        stackWhat(key, stackId),
      );
      return out.ok ? itemToRolloutStack(out.item) : undefined;
    },

    async setRolloutStack(key, stackId, change) {
      const names: Record<string, string> = {};
      const values: Item = {};
      const sets: string[] = [];
      addChange(change, names, values, sets);
      if (sets.length === 0) return;
      await table.updateItem(
        {
          Key: keyAttrs(rolloutStackKey(key.team, key.rolloutId, stackId)),
          UpdateExpression: `SET ${sets.join(", ")}`,
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
        stackWhat(key, stackId),
      );
    },

    async finishRollout(key, state, reason, finishedAt) {
      const out = await table.conditionalUpdate(
        {
          Key: keyAttrs(rolloutKey(key.team, key.rolloutId)),
          UpdateExpression: "SET #state = :state, reason = :reason, finishedAt = :at",
          ConditionExpression: "#state = :running",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: {
            ":state": { S: state },
            ":reason": { S: reason },
            ":at": { S: finishedAt },
            ":running": { S: "RUNNING" },
          },
          ReturnValues: "NONE",
        },
        rolloutWhat(key),
      );
      return out.ok;
    },
  };
}

function addChange(
  change: RolloutStackChange,
  names: Record<string, string>,
  values: Item,
  sets: string[],
): void {
  for (const [field, value] of Object.entries(change)) {
    if (value === undefined) continue;
    names[`#c_${field}`] = field;
    values[`:c_${field}`] = toAttr(value);
    sets.push(`#c_${field} = :c_${field}`);
  }
}

function rolloutToItem(r: RolloutRecord): Item {
  const key = rolloutKey(r.team, r.rolloutId);
  const item: Item = { pk: { S: key.pk }, sk: { S: key.sk }, kind: { S: ITEM_KINDS.rollout } };
  for (const [k, v] of Object.entries(r)) if (v !== undefined) item[k] = toAttr(v);
  return item;
}

function rolloutStackToItem(s: RolloutStackRecord): Item {
  const key = rolloutStackKey(s.team, s.rolloutId, s.stackId);
  const item: Item = { pk: { S: key.pk }, sk: { S: key.sk }, kind: { S: ITEM_KINDS.rolloutStack } };
  for (const [k, v] of Object.entries(s)) if (v !== undefined) item[k] = toAttr(v);
  return item;
}

function oneOf<T extends string>(what: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new StoreError(`${what}: state \`${value}\` is not one of ${allowed.join(", ")}`);
}

function itemToRollout(item: Item): RolloutRecord {
  const f = new Fields(fromItem(item), "rollout item");
  return {
    team: f.str("team"),
    rolloutId: f.str("rolloutId"),
    template: f.str("template"),
    version: f.num("version"),
    canary: f.num("canary"),
    batch: f.num("batch"),
    maxFailedPercent: f.num("maxFailedPercent"),
    state: oneOf("rollout item", f.str("state"), ROLLOUT_STATES),
    stacks: f.num("stacks"),
    createdBy: f.str("createdBy"),
    createdAt: f.str("createdAt"),
    ...opt("finishedAt", f.optStr("finishedAt")),
    ...opt("reason", f.optStr("reason")),
  };
}

function itemToRolloutStack(item: Item): RolloutStackRecord {
  const f = new Fields(fromItem(item), "rollout stack item");
  return {
    team: f.str("team"),
    rolloutId: f.str("rolloutId"),
    stackId: f.str("stackId"),
    member: f.str("member"),
    index: f.num("index"),
    wave: f.num("wave"),
    fromVersion: f.num("fromVersion"),
    state: oneOf<RolloutStackState>("rollout stack item", f.str("state"), ROLLOUT_STACK_STATES),
    ...opt("fromRun", f.optNum("fromRun")),
    ...opt("execution", f.optStr("execution")),
    ...opt("startedAt", f.optStr("startedAt")),
    ...opt("finishedAt", f.optStr("finishedAt")),
    ...opt("error", f.optStr("error")),
  };
}
