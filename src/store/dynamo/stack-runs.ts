import type { StackEvent, StackRuns } from "../../ports/store.ts";
import { type Item, toAttr } from "../codec.ts";
import { ServerRecordNotFoundError, StackNotFoundError, StoreError } from "../errors.ts";
import {
  artifactsKey,
  eventKey,
  hookPrefix,
  ITEM_KINDS,
  lastEventSk,
  STACKS_INDEX,
  serverKey,
  serverPrefix,
  stackChildPrefix,
  stackKey,
  stackNameKey,
  stacksIndexSk,
} from "../keys.ts";
import {
  artifactsToItem,
  compressTemplate,
  eventToItem,
  hookToItem,
  itemToArtifacts,
  itemToEvent,
  itemToHook,
  itemToServer,
  itemToStack,
  serverToItem,
  stackToItem,
  TEMPLATE_ATTR,
} from "../records.ts";
import { keyAttrs, keyOfItem, type TableClient } from "./table-client.ts";
import { createDynamoWaits } from "./waits.ts";

/** Fields a record cannot lose: a patch may not set them to undefined. */
const REQUIRED_STACK_FIELDS = new Set([
  "member",
  "status",
  "run",
  "templateYaml",
  "templateFile",
  "templateHash",
  "userdata",
  "simulate",
  "createdAt",
  "startedAt",
]);
const REQUIRED_SERVER_FIELDS = new Set([
  "provider",
  "type",
  "status",
  "deps",
  "dependents",
  "run",
  "attempt",
]);

/**
 * Stack runs in the table: the stack item (with its lock and event counter) in the team's
 * partition, and under its sort key the servers, hooks, artifacts and events.
 */
export function createDynamoStackRuns(table: TableClient, options: { readonly now: () => Date }): StackRuns {
  const { now } = options;
  const runs: StackRuns = {
    async createStack(stack) {
      return table.putNew(await stackToItem(stack), `stack \`${stack.stackId}\``);
    },

    async claimStackName(team, member, name, stackId) {
      const key = stackNameKey(team, member, name);
      const what = `stack name \`${name}\` of member \`${member}\``;
      const item = {
        pk: { S: key.pk },
        sk: { S: key.sk },
        kind: { S: ITEM_KINDS.stackName },
        stackId: { S: stackId },
      };
      // A claim races only with other claims: a few rounds settle it (each round, one wins).
      for (let round = 0; round < 5; round++) {
        if (await table.putNew(item, what)) return stackId;
        const held = await table.getItem(keyAttrs(key), what);
        const holder = held?.stackId?.S;
        if (holder === undefined) continue;
        if (holder === stackId) return stackId;
        const stack = await runs.getStack({ team, stackId: holder });
        if (stack && stack.status !== "DESTROYED") return holder;
        const out = await table.conditionalUpdate(
          {
            Key: keyAttrs(key),
            UpdateExpression: "SET stackId = :mine",
            ConditionExpression: "stackId = :holder",
            ExpressionAttributeValues: { ":mine": { S: stackId }, ":holder": { S: holder } },
            ReturnValues: "NONE",
          },
          what,
        );
        if (out.ok) return stackId;
      }
      throw new StoreError(`${what}: could not be claimed (too many concurrent claims); try again`);
    },

    async getStack(key) {
      const item = await table.getItem(keyAttrs(stackKey(key)), `stack \`${key.stackId}\``);
      return item && itemToStack(item);
    },

    async listStacks(team) {
      const keys = await (team === undefined
        ? table.scanAll({ IndexName: STACKS_INDEX })
        : table.queryAll({
            IndexName: STACKS_INDEX,
            KeyConditionExpression: "gsi1pk = :pk",
            ExpressionAttributeValues: { ":pk": { S: stackKey({ team, stackId: "x" }).pk } },
          }));
      const items = await table.batchGet(keys.map(keyOfItem));
      const stacks = await Promise.all(items.map(itemToStack));
      return stacks.sort(
        (a, b) => compareDesc(a.createdAt, b.createdAt) || compareDesc(a.stackId, b.stackId),
      );
    },

    async updateStack(key, patch) {
      const k = stackKey(key);
      const what = `stack \`${key.stackId}\``;
      const compressed =
        patch.templateYaml === undefined ? undefined : await compressTemplate(patch.templateYaml);
      const item = await table.patchItem(k, patch, REQUIRED_STACK_FIELDS, what, (field, value, set) => {
        if (field === "templateYaml" && compressed !== undefined) set(TEMPLATE_ATTR, { B: compressed });
        else set(field, toAttr(value));
        if (field === "createdAt") set("gsi1sk", { S: stacksIndexSk(String(value), key.stackId) });
      });
      if (item === undefined) throw new StackNotFoundError(key.team, key.stackId);
      return itemToStack(item);
    },

    async acquireLock(key, holder, steal) {
      const what = `stack \`${key.stackId}\``;
      const values: Item = {
        ":holder": toAttr(holder),
        ":run": { N: String(holder.run) },
        ":execution": { S: holder.execution },
      };
      let condition = "attribute_not_exists(#lock) OR (#lock.#run = :run AND #lock.#execution = :execution)";
      if (steal !== undefined) {
        condition += " OR #lock.#execution = :steal";
        values[":steal"] = { S: steal.execution };
      }
      // A lock released between our write and our read: try again (bounded, it cannot flap forever).
      for (let attempt = 0; attempt < 5; attempt++) {
        const out = await table.conditionalUpdate(
          {
            Key: keyAttrs(stackKey(key)),
            UpdateExpression: "SET #lock = :holder",
            ConditionExpression: `attribute_exists(pk) AND (${condition})`,
            ExpressionAttributeNames: { "#lock": "lock", "#run": "run", "#execution": "execution" },
            ExpressionAttributeValues: values,
            ReturnValues: "NONE",
          },
          what,
        );
        if (out.ok) return { acquired: true };
        if (out.current === undefined) throw new StackNotFoundError(key.team, key.stackId);
        const current = (await itemToStack(out.current)).lock;
        if (current !== undefined) return { acquired: false, holder: current };
      }
      throw new StoreError(`${what}: the lock kept changing hands while being taken; try again`);
    },

    async releaseLock(key, execution) {
      const out = await table.conditionalUpdate(
        {
          Key: keyAttrs(stackKey(key)),
          UpdateExpression: "REMOVE #lock",
          ConditionExpression: "#lock.#execution = :execution",
          ExpressionAttributeNames: { "#lock": "lock", "#execution": "execution" },
          ExpressionAttributeValues: { ":execution": { S: execution } },
          ReturnValues: "NONE",
        },
        `stack \`${key.stackId}\``,
      );
      return out.ok;
    },

    async putServer(server) {
      await table.putItem(serverToItem(server), `server \`${server.name}\``);
    },

    async getServer(key, name) {
      const item = await table.getItem(keyAttrs(serverKey(key, name)), `server \`${name}\``);
      return item && itemToServer(item);
    },

    async deleteServer(key, name) {
      await table.deleteItem(keyAttrs(serverKey(key, name)), `server \`${name}\``);
    },

    async listServers(key) {
      return (await table.queryPrefix(stackKey(key).pk, serverPrefix(key))).map(itemToServer);
    },

    async updateServer(key, name, patch) {
      const what = `server \`${name}\` of stack \`${key.stackId}\``;
      // An empty set is no attribute at all: emptying `pending` removes it.
      const normalized = patch.pending?.length === 0 ? { ...patch, pending: undefined } : patch;
      const item = await table.patchItem(
        serverKey(key, name),
        normalized,
        REQUIRED_SERVER_FIELDS,
        what,
        (field, value, set) =>
          set(field, field === "pending" ? { SS: [...new Set(value as readonly string[])] } : toAttr(value)),
      );
      if (item === undefined) throw new ServerRecordNotFoundError(key.stackId, name);
      return itemToServer(item);
    },

    ...createDynamoWaits(table),

    async putHook(hook) {
      await table.putItem(hookToItem(hook), `hook ${hook.phase}#${hook.index}`);
    },

    async listHooks(key) {
      const hooks = (await table.queryPrefix(stackKey(key).pk, hookPrefix(key))).map(itemToHook);
      const phaseOrder = { pre: 0, post: 1, destroy: 2, undo: 3 } as const;
      return hooks.sort((a, b) => phaseOrder[a.phase] - phaseOrder[b.phase] || a.index - b.index);
    },

    async putArtifacts(key, artifacts) {
      await table.putItem(artifactsToItem(key, artifacts), `artifacts of stack \`${key.stackId}\``);
    },

    async getArtifacts(key) {
      const item = await table.getItem(keyAttrs(artifactsKey(key)), `artifacts of stack \`${key.stackId}\``);
      return item === undefined ? {} : itemToArtifacts(item);
    },

    async appendEvent(key, event) {
      const what = `stack \`${key.stackId}\``;
      const counted = await table.conditionalUpdate(
        {
          Key: keyAttrs(stackKey(key)),
          UpdateExpression: "ADD eventSeq :one",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":one": { N: "1" } },
          ReturnValues: "UPDATED_NEW",
        },
        what,
      );
      if (!counted.ok) throw new StackNotFoundError(key.team, key.stackId);
      const seq = Number(counted.item.eventSeq?.N);
      const full: StackEvent = {
        seq,
        at: now().toISOString(),
        type: event.type,
        ...(event.server !== undefined && { server: event.server }),
        message: event.message,
      };
      await table.putItem(eventToItem(key, full), `event ${seq} of ${what}`);
      return full;
    },

    async listEvents(key, afterSeq = 0) {
      const items = await table.queryAll({
        KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues: {
          ":pk": { S: stackKey(key).pk },
          ":from": { S: eventKey(key, afterSeq + 1).sk },
          ":to": { S: lastEventSk(key) },
        },
        ConsistentRead: true,
      });
      return items.map(itemToEvent);
    },

    async deleteStack(key) {
      const stack = stackKey(key);
      const children = await table.queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": { S: stack.pk }, ":prefix": { S: stackChildPrefix(key) } },
        ProjectionExpression: "pk, sk",
        ConsistentRead: true,
      });
      await table.batchDelete(children.map(keyOfItem));
      // The stack item goes last, so that a delete cut short can be repeated.
      await table.deleteItem(keyAttrs(stack), `stack \`${key.stackId}\``);
    },

    async expireStack(key, purgeAt) {
      const stack = stackKey(key);
      const children = await table.queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": { S: stack.pk }, ":prefix": { S: stackChildPrefix(key) } },
        ProjectionExpression: "pk, sk",
        ConsistentRead: true,
      });
      const set = (k: Item) =>
        table.conditionalUpdate(
          {
            Key: keyOfItem(k),
            // Never makes an item of a key deleted meanwhile.
            ConditionExpression: "attribute_exists(pk)",
            ...(purgeAt === undefined
              ? { UpdateExpression: "REMOVE purgeAt" }
              : {
                  UpdateExpression: "SET purgeAt = :at",
                  ExpressionAttributeValues: { ":at": { N: String(purgeAt) } },
                }),
          },
          `expiry of stack \`${key.stackId}\``,
        );
      for (let i = 0; i < children.length; i += 25) await Promise.all(children.slice(i, i + 25).map(set));
      // The stack item last: the one a purge looks at, set once every other item carries it.
      await set(keyAttrs(stack));
    },
  };
  return runs;
}

function compareDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}
