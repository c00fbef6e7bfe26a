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
import type {
  OutboundEvent,
  StackEvent,
  StackKey,
  Store,
  TemplateSummary,
  TemplateVersion,
} from "../ports/store.ts";
import { Fields, fromItem, type Item, itemSize, MAX_ITEM_BYTES, toAttr } from "./codec.ts";
import {
  ItemTooLargeError,
  ServerRecordNotFoundError,
  StackNotFoundError,
  StoreError,
  TemplateNotFoundError,
} from "./errors.ts";
import {
  artifactsKey,
  bootstrapKey,
  credentialKey,
  eventKey,
  hookPrefix,
  ITEM_KINDS,
  type ItemKey,
  lastEventSk,
  MAX_TEMPLATE_VERSION,
  memberKey,
  OUTBOUND_EVENT_PREFIX,
  OUTBOUND_EVENTS_PK,
  STACKS_INDEX,
  serverKey,
  serverPrefix,
  stackChildPrefix,
  stackKey,
  stacksIndexSk,
  teamPk,
  teamPolicyKey,
  templateCatalogKey,
  templateKey,
  templateVersionKey,
} from "./keys.ts";
import {
  artifactsToItem,
  bootstrapToItem,
  compressTemplate,
  credentialToItem,
  eventToItem,
  hookToItem,
  itemToArtifacts,
  itemToBootstrap,
  itemToCredential,
  itemToEvent,
  itemToHook,
  itemToMember,
  itemToOutboundEvent,
  itemToServer,
  itemToStack,
  itemToTeamPolicy,
  itemToTemplateCatalog,
  itemToTemplateVersion,
  memberToItem,
  outboundEventToItem,
  RESERVED_ATTRS,
  serverToItem,
  stackToItem,
  TEMPLATE_ATTR,
  teamPolicyToItem,
  templateVersionToItem,
} from "./records.ts";
import { translateError } from "./translate.ts";
import { releaseFor, type WaitUpdate } from "./wait-release.ts";

export interface DynamoStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Time source for event timestamps (default: the system clock). */
  readonly now?: () => Date;
}

/**
 * The Store port, with the wait-protocol updates also telling exactly one caller to release a
 * waiting server (see {@link WaitUpdate}). Proposed as the port's own signatures.
 */
export interface DynamoStore extends Store {
  /** Atomically records the wait token of `run` (ignored for an older run). */
  setWaitToken(key: StackKey, name: string, run: number, token: string): Promise<WaitUpdate>;
  /** Atomically removes `dep` from `pending` (idempotent; ignored for an older run). */
  removePending(key: StackKey, name: string, run: number, dep: string): Promise<WaitUpdate>;
  /** Atomically records that `dep` failed, first one wins (ignored for an older run). */
  setFailedDep(key: StackKey, name: string, run: number, dep: string): Promise<WaitUpdate>;
}

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

/** BatchWriteItem takes at most 25 requests, BatchGetItem at most 100 keys. */
const BATCH_WRITE_SIZE = 25;
const BATCH_GET_SIZE = 100;
const BATCH_RETRIES = 10;
/** Reads listTemplates runs at once (one query per template). */
const PARALLEL_READS = 16;

/**
 * Creates the DynamoDB adapter of the Store port on one table (`pk`/`sk`, see keys.ts).
 *
 * Every write is a single-item operation (dynalite has no transactions). The wait protocol's
 * updates return the record afterwards and, to exactly one caller per wait token, the result to
 * send: after an update leaves the record "token present and every dependency ready (or one
 * failed)", the caller claims the token with a conditional write of `releasedToken`/`releasedBy`;
 * the first claimant wins, and only a retry of the same call may claim it again.
 */
export function createDynamoStore(options: DynamoStoreOptions): DynamoStore {
  const { client, tableName } = options;
  const now = options.now ?? (() => new Date());

  async function send<T>(operation: string, what: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw translateError(err, operation, tableName, what);
    }
  }

  /** Runs a conditional update; on a failed condition returns the item as it is (if any). */
  async function conditionalUpdate(
    input: Omit<UpdateItemCommandInput, "TableName">,
    what: string,
  ): Promise<{ ok: true; item: Item } | { ok: false; current: Item | undefined }> {
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

  async function getItem(
    key: ItemKeyAttrs,
    what: string,
    attrs?: readonly string[],
  ): Promise<Item | undefined> {
    const out = await send("GetItem", what, () =>
      client.send(
        new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true, ...projection(attrs) }),
      ),
    );
    return out.Item;
  }

  /** Puts an item unless one with its key exists; returns whether it did. */
  async function putNew(item: Item, what: string): Promise<boolean> {
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
  }

  function getVersionItem(team: string, name: string, version: number, attrs?: readonly string[]) {
    if (!Number.isSafeInteger(version) || version < 1 || version > MAX_TEMPLATE_VERSION) {
      return Promise.resolve(undefined);
    }
    const what = `version ${version} of template \`${name}\``;
    return getItem(keyAttrs(templateVersionKey(team, name, version)), what, attrs);
  }

  /** A template's versions are the sort keys from version 1 to the highest one. */
  function versionRange(team: string, name: string) {
    return {
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :first AND :last",
      ExpressionAttributeValues: {
        ":pk": { S: teamPk(team) },
        ":first": { S: templateVersionKey(team, name, 1).sk },
        ":last": { S: templateVersionKey(team, name, MAX_TEMPLATE_VERSION).sk },
      },
      ConsistentRead: true,
    } satisfies Omit<QueryCommandInput, "TableName">;
  }

  /**
   * The newest version that is stored. Not the head's number: a publish that died between
   * allocating its number and storing the version leaves that number without a version.
   */
  async function newestVersionItem(team: string, name: string, attrs?: readonly string[]) {
    const out = await send("Query", `template \`${name}\``, () =>
      client.send(
        new QueryCommand({
          ...versionRange(team, name),
          ...projection(attrs),
          TableName: tableName,
          ScanIndexForward: false,
          Limit: 1,
        }),
      ),
    );
    return out.Items?.[0];
  }

  async function getTemplateCatalog(team: string) {
    const item = await getItem(keyAttrs(templateCatalogKey(team)), `templates of team \`${team}\``);
    return itemToTemplateCatalog(item);
  }

  async function queryAll(input: Omit<QueryCommandInput, "TableName">): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await send("Query", undefined, () =>
        client.send(new QueryCommand({ ...input, TableName: tableName, ExclusiveStartKey: start })),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  async function scanAll(input: Omit<ScanCommandInput, "TableName">): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await send("Scan", undefined, () =>
        client.send(new ScanCommand({ ...input, TableName: tableName, ExclusiveStartKey: start })),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  function queryPrefix(pk: string, prefix: string): Promise<Item[]> {
    return queryAll({
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": { S: pk }, ":prefix": { S: prefix } },
      ConsistentRead: true,
    });
  }

  async function batchGet(keys: readonly ItemKeyAttrs[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_SIZE) {
      let pending: ItemKeyAttrs[] = keys.slice(i, i + BATCH_GET_SIZE);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > BATCH_RETRIES)
          throw new StoreError(`BatchGetItem left keys unprocessed ${attempt} times`);
        if (attempt > 0) await backoff(attempt);
        const out = await send("BatchGetItem", undefined, () =>
          client.send(
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
  }

  async function batchDelete(keys: readonly ItemKeyAttrs[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH_WRITE_SIZE) {
      let pending: WriteRequest[] = keys
        .slice(i, i + BATCH_WRITE_SIZE)
        .map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > BATCH_RETRIES)
          throw new StoreError(`BatchWriteItem left items unprocessed ${attempt} times`);
        if (attempt > 0) await backoff(attempt);
        const out = await send("BatchWriteItem", undefined, () =>
          client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } })),
        );
        pending = out.UnprocessedItems?.[tableName] ?? [];
      }
    }
  }

  /**
   * One step of the wait protocol: the update (conditional on the run), then, if the record now
   * calls for a release, the claim. `who` identifies the call, so that its own retry may re-claim.
   */
  async function waitUpdate(
    key: StackKey,
    name: string,
    run: number,
    who: string,
    update: { expression: string; names?: Record<string, string>; values: Item },
  ): Promise<WaitUpdate> {
    const itemKey = keyAttrs(serverKey(key, name));
    const what = `server \`${name}\` of stack \`${key.stackId}\``;
    const updated = await conditionalUpdate(
      {
        Key: itemKey,
        UpdateExpression: update.expression,
        ConditionExpression: "#run = :run",
        ExpressionAttributeNames: { "#run": "run", ...update.names },
        ExpressionAttributeValues: { ":run": { N: String(run) }, ...update.values },
        ReturnValues: "ALL_NEW",
      },
      what,
    );
    if (!updated.ok) {
      if (updated.current === undefined) throw new ServerRecordNotFoundError(key.stackId, name);
      return itemToServer(updated.current); // prepared for another run: leave it alone
    }
    const record = itemToServer(updated.item);
    const wanted = releaseFor(record);
    if (wanted === undefined) return record;
    const claimed = await conditionalUpdate(
      {
        Key: itemKey,
        UpdateExpression: "SET releasedToken = :token, releasedBy = :who",
        ConditionExpression:
          "#run = :run AND waitToken = :token AND (attribute_exists(failedDep) OR attribute_not_exists(pending))" +
          " AND (attribute_not_exists(releasedToken) OR releasedToken <> :token OR releasedBy = :who)",
        ExpressionAttributeNames: { "#run": "run" },
        ExpressionAttributeValues: {
          ":run": { N: String(run) },
          ":token": { S: wanted.token },
          ":who": { S: who },
        },
        ReturnValues: "ALL_NEW",
      },
      what,
    );
    if (!claimed.ok) return claimed.current === undefined ? record : itemToServer(claimed.current);
    const after = itemToServer(claimed.item);
    const release = releaseFor(after);
    return release === undefined ? after : { ...after, release };
  }

  /** Applies a patch with SET/REMOVE, conditional on the item existing; returns the item afterwards. */
  async function patchItem(
    key: ItemKey,
    patch: Record<string, unknown>,
    required: ReadonlySet<string>,
    what: string,
    extra: (field: string, value: unknown, set: (attr: string, value: AttributeValue) => void) => void,
  ): Promise<Item | undefined> {
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
  }

  return {
    async createStack(stack) {
      return putNew(await stackToItem(stack), `stack \`${stack.stackId}\``);
    },

    async getStack(key) {
      const item = await getItem(keyAttrs(stackKey(key)), `stack \`${key.stackId}\``);
      return item && itemToStack(item);
    },

    async listStacks(team) {
      const keys = await (team === undefined
        ? scanAll({ IndexName: STACKS_INDEX })
        : queryAll({
            IndexName: STACKS_INDEX,
            KeyConditionExpression: "gsi1pk = :pk",
            ExpressionAttributeValues: { ":pk": { S: stackKey({ team, stackId: "x" }).pk } },
          }));
      const items = await batchGet(
        keys.map((k) => ({ pk: k.pk as AttributeValue, sk: k.sk as AttributeValue })),
      );
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
      const item = await patchItem(k, patch, REQUIRED_STACK_FIELDS, what, (field, value, set) => {
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
        const out = await conditionalUpdate(
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
      const out = await conditionalUpdate(
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
      const item = serverToItem(server);
      await send("PutItem", `server \`${server.name}\``, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async getServer(key, name) {
      const item = await getItem(keyAttrs(serverKey(key, name)), `server \`${name}\``);
      return item && itemToServer(item);
    },

    async listServers(key) {
      return (await queryPrefix(stackKey(key).pk, serverPrefix(key))).map(itemToServer);
    },

    async updateServer(key, name, patch) {
      const what = `server \`${name}\` of stack \`${key.stackId}\``;
      // An empty set is no attribute at all: emptying `pending` removes it.
      const normalized = patch.pending?.length === 0 ? { ...patch, pending: undefined } : patch;
      const item = await patchItem(
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

    setWaitToken(key, name, run, token) {
      return waitUpdate(key, name, run, "wait", {
        expression: "SET waitToken = :token",
        values: { ":token": { S: token } },
      });
    },

    removePending(key, name, run, dep) {
      return waitUpdate(key, name, run, `dep#${dep}`, {
        expression: "DELETE pending :dep",
        values: { ":dep": { SS: [dep] } },
      });
    },

    setFailedDep(key, name, run, dep) {
      return waitUpdate(key, name, run, `failed#${dep}`, {
        expression: "SET failedDep = if_not_exists(failedDep, :dep)",
        values: { ":dep": { S: dep } },
      });
    },

    async putHook(hook) {
      const item = hookToItem(hook);
      await send("PutItem", `hook ${hook.phase}#${hook.index}`, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async listHooks(key) {
      const hooks = (await queryPrefix(stackKey(key).pk, hookPrefix(key))).map(itemToHook);
      const phaseOrder = { pre: 0, post: 1 } as const;
      return hooks.sort((a, b) => phaseOrder[a.phase] - phaseOrder[b.phase] || a.index - b.index);
    },

    async putArtifacts(key, artifacts) {
      const item = artifactsToItem(key, artifacts);
      await send("PutItem", `artifacts of stack \`${key.stackId}\``, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async getArtifacts(key) {
      const item = await getItem(keyAttrs(artifactsKey(key)), `artifacts of stack \`${key.stackId}\``);
      return item === undefined ? {} : itemToArtifacts(item);
    },

    async appendEvent(key, event) {
      const what = `stack \`${key.stackId}\``;
      const counted = await conditionalUpdate(
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
      const item = eventToItem(key, full);
      await send("PutItem", `event ${seq} of ${what}`, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
      return full;
    },

    async listEvents(key, afterSeq = 0) {
      const items = await queryAll({
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
      const children = await queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": { S: stack.pk }, ":prefix": { S: stackChildPrefix(key) } },
        ProjectionExpression: "pk, sk",
        ConsistentRead: true,
      });
      await batchDelete(children.map((k) => ({ pk: k.pk as AttributeValue, sk: k.sk as AttributeValue })));
      // The stack item goes last, so that a delete cut short can be repeated.
      await send("DeleteItem", `stack \`${key.stackId}\``, () =>
        client.send(new DeleteItemCommand({ TableName: tableName, Key: keyAttrs(stack) })),
      );
    },
    async putTemplateVersion(input) {
      const { team, name, hash } = input;
      const head = keyAttrs(templateKey(team, name));
      const what = `template \`${name}\` of team \`${team}\``;
      const yamlGz = await compressTemplate(input.yaml);
      const versionOf = (version: number): TemplateVersion => ({
        team,
        name,
        version,
        yaml: input.yaml,
        hash,
        author: input.author,
        createdAt: input.createdAt,
      });
      // Refused before a number is allocated, so that a version too large burns none.
      if (itemSize(templateVersionToItem(versionOf(MAX_TEMPLATE_VERSION), yamlGz)) > MAX_ITEM_BYTES) {
        throw new ItemTooLargeError(`a version of ${what}`);
      }

      /** Stores version `n`; whoever stores it first created it (the allocator, or a repairer). */
      const storeVersion = async (n: number) => {
        const version = versionOf(n);
        if (await putNew(templateVersionToItem(version, yamlGz), `version ${n} of ${what}`)) {
          return { version, created: true };
        }
        const existing = await getVersionItem(team, name, n);
        const stored = existing && (await itemToTemplateVersion(existing));
        if (stored?.hash !== hash) {
          throw new StoreError(
            `${what}: version ${n} holds hash ${stored?.hash ?? "(none)"}, expected ${hash}`,
          );
        }
        return { version: stored, created: false };
      };

      // The catalog first: a publish cut short after it leaves a name without versions, which
      // listTemplates skips; the other order would leave versions that no listing shows.
      await send("UpdateItem", what, () =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyAttrs(templateCatalogKey(team)),
            UpdateExpression: "SET #team = :team, #kind = :kind ADD #names :name",
            ExpressionAttributeNames: { "#team": "team", "#kind": "kind", "#names": "names" },
            ExpressionAttributeValues: {
              ":team": { S: team },
              ":kind": { S: ITEM_KINDS.templateCatalog },
              ":name": { SS: [name] },
            },
          }),
        ),
      );
      // A dynalite condition failure is read back after the fact: the head may have moved on.
      for (let attempt = 0; attempt < 5; attempt++) {
        const allocated = await conditionalUpdate(
          {
            Key: head,
            UpdateExpression:
              "SET #team = :team, #name = :name, #kind = :kind, #hash = :hash, #at = :at ADD #latest :one",
            ConditionExpression: "attribute_not_exists(#hash) OR #hash <> :hash",
            ExpressionAttributeNames: {
              "#team": "team",
              "#name": "name",
              "#kind": "kind",
              "#hash": "latestHash",
              "#at": "updatedAt",
              "#latest": "latest",
            },
            ExpressionAttributeValues: {
              ":team": { S: team },
              ":name": { S: name },
              ":kind": { S: ITEM_KINDS.template },
              ":hash": { S: hash },
              ":at": { S: input.createdAt },
              ":one": { N: "1" },
            },
            ReturnValues: "UPDATED_NEW",
          },
          what,
        );
        if (allocated.ok) return storeVersion(Number(allocated.item.latest?.N));
        if (allocated.current === undefined) continue;
        const current = new Fields(fromItem(allocated.current), "template head item");
        if (current.optStr("latestHash") !== hash) continue;
        // The newest number was allocated for this same YAML: that version is the answer. If it
        // is not stored (its publisher is still on its way, or died), store it now.
        const latest = current.num("latest");
        const existing = await getVersionItem(team, name, latest);
        if (existing === undefined) return storeVersion(latest);
        return { version: await itemToTemplateVersion(existing), created: false };
      }
      throw new StoreError(`${what}: the newest version kept changing while publishing; try again`);
    },

    async getTemplateVersion(team, name, version) {
      const item =
        version === undefined
          ? await newestVersionItem(team, name)
          : await getVersionItem(team, name, version);
      return item && itemToTemplateVersion(item);
    },

    async listTemplateVersions(team, name) {
      return Promise.all((await queryAll(versionRange(team, name))).map(itemToTemplateVersion));
    },

    async listTemplates(team) {
      const catalog = await getTemplateCatalog(team);
      const summaries: TemplateSummary[] = [];
      for (let i = 0; i < catalog.names.length; i += PARALLEL_READS) {
        const chunk = catalog.names.slice(i, i + PARALLEL_READS);
        const newest = await Promise.all(
          chunk.map((name) => newestVersionItem(team, name, ["version", "hash", "createdAt"])),
        );
        chunk.forEach((name, j) => {
          const item = newest[j];
          if (item === undefined) return; // its first publish died before storing a version
          const f = new Fields(fromItem(item), "template version item");
          summaries.push({
            team,
            name,
            latest: f.num("version"),
            hash: f.str("hash"),
            updatedAt: f.str("createdAt"),
            ...(catalog.default?.name === name && { defaultVersion: catalog.default.version }),
          });
        });
      }
      return summaries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async setDefaultTemplate(team, ref) {
      const found = await getVersionItem(team, ref.name, ref.version, ["pk"]);
      if (found === undefined) throw new TemplateNotFoundError(team, ref.name, ref.version);
      await send("UpdateItem", `default template of team \`${team}\``, () =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyAttrs(templateCatalogKey(team)),
            UpdateExpression: "SET #team = :team, #kind = :kind, #default = :default",
            ExpressionAttributeNames: { "#team": "team", "#kind": "kind", "#default": "default" },
            ExpressionAttributeValues: {
              ":team": { S: team },
              ":kind": { S: ITEM_KINDS.templateCatalog },
              ":default": toAttr({ name: ref.name, version: ref.version }),
            },
          }),
        ),
      );
    },

    async getDefaultTemplate(team) {
      return (await getTemplateCatalog(team)).default;
    },

    async putMember(member) {
      const item = memberToItem(member);
      await send("PutItem", `member \`${member.member}\``, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async getMember(team, member) {
      const item = await getItem(keyAttrs(memberKey(team, member)), `member \`${member}\``);
      return item && itemToMember(item);
    },

    async putTeamPolicy(policy) {
      const item = teamPolicyToItem(policy);
      await send("PutItem", `policy of team \`${policy.team}\``, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async getTeamPolicy(team) {
      const item = await getItem(keyAttrs(teamPolicyKey(team)), `policy of team \`${team}\``);
      return item && itemToTeamPolicy(item);
    },

    async putCredential(credential) {
      const item = credentialToItem(credential);
      await send("PutItem", `credential \`${credential.name}\``, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async getCredential(team, name) {
      const item = await getItem(keyAttrs(credentialKey(team, name)), `credential \`${name}\``);
      return item && itemToCredential(item);
    },

    async getBootstrap(team, credential, region) {
      const what = `bootstrap of credential \`${credential}\` in ${region}`;
      const item = await getItem(keyAttrs(bootstrapKey(team, credential, region)), what);
      return item && itemToBootstrap(item);
    },

    async claimBootstrap(team, credential, region, claim) {
      const what = `bootstrap of credential \`${credential}\` in ${region}`;
      const out = await conditionalUpdate(
        {
          Key: keyAttrs(bootstrapKey(team, credential, region)),
          UpdateExpression:
            "SET #kind = :kind, team = :team, credential = :credential, #region = :region, #status = :creating, #owner = :owner, leaseUntil = :until, updatedAt = :now REMOVE resources",
          // A READY record has no lease: only `force` takes it over.
          ConditionExpression: `attribute_not_exists(pk) OR #owner = :owner OR leaseUntil < :now${claim.force ? " OR #status = :ready" : ""}`,
          ExpressionAttributeNames: {
            "#kind": "kind",
            "#region": "region",
            "#status": "status",
            "#owner": "owner",
          },
          ExpressionAttributeValues: {
            ":kind": { S: ITEM_KINDS.bootstrap },
            ":team": { S: team },
            ":credential": { S: credential },
            ":region": { S: region },
            ":creating": { S: "CREATING" },
            ":owner": { S: claim.owner },
            ":until": { S: claim.until },
            ":now": { S: claim.now },
            ...(claim.force ? { ":ready": { S: "READY" } } : {}),
          },
        },
        what,
      );
      if (out.ok) return { claimed: true };
      if (out.current === undefined) throw new StoreError(`${what}: the claim failed but no record exists`);
      return { claimed: false, record: itemToBootstrap(out.current) };
    },

    async putBootstrap(record) {
      const item = bootstrapToItem(record);
      await send("PutItem", `bootstrap of credential \`${record.credential}\` in ${record.region}`, () =>
        client.send(new PutItemCommand({ TableName: tableName, Item: item })),
      );
    },

    async putOutboundEvent(event) {
      // A second put of the same id is a retry: the first one stands.
      await putNew(outboundEventToItem(event), `outbound event \`${event.id}\``);
    },

    async listOutboundEvents() {
      const items = await queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: {
          ":pk": { S: OUTBOUND_EVENTS_PK },
          ":prefix": { S: OUTBOUND_EVENT_PREFIX },
        },
        ConsistentRead: true,
      });
      return items.map(itemToOutboundEvent).sort(compareEvents);
    },
  };
}

type ItemKeyAttrs = { pk: AttributeValue; sk: AttributeValue };

function keyAttrs(key: ItemKey): ItemKeyAttrs {
  return { pk: { S: key.pk }, sk: { S: key.sk } };
}

function isConditionFailed(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === "ConditionalCheckFailedException";
}

/** Only the named attributes (aliased: `name`, `hash` and the like are reserved words). */
function projection(attrs: readonly string[] | undefined) {
  if (attrs === undefined) return {};
  return {
    ProjectionExpression: attrs.map((_, i) => `#p${i}`).join(", "),
    ExpressionAttributeNames: Object.fromEntries(attrs.map((attr, i) => [`#p${i}`, attr])),
  };
}

/** Oldest first; events of the same time in id order, so that the order is stable. */
function compareEvents(a: OutboundEvent, b: OutboundEvent): number {
  const byTime = Date.parse(a.time) - Date.parse(b.time);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function compareDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.min(1_000, 10 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
