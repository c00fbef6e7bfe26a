import { promisify } from "node:util";
import { gunzip, gunzipSync, gzip, gzipSync } from "node:zlib";
import type { CompiledHook, CompiledServer } from "../core/compiled.ts";
import { HOOK_PHASES } from "../core/template.ts";
import type {
  HookRecord,
  LockHolder,
  MemberRecord,
  OutboundEvent,
  RunContext,
  RunSettings,
  ServerRecord,
  ServerStatus,
  StackEvent,
  StackKey,
  StackRecord,
  StackStatus,
  TeamCredentialRecord,
  TeamPolicyRecord,
  TemplateRef,
  TemplateVersion,
} from "../ports/store.ts";
import { HOOK_STATUSES, ON_MEMBER_LEFT, SERVER_STATUSES, STACK_STATUSES } from "../ports/store.ts";
import type { BootstrapRecord } from "../providers/aws/leases.ts";
import { Fields, fromItem, type Item, opt, stringSet, toAttr } from "./codec.ts";
import { StoreError } from "./errors.ts";
import {
  artifactsKey,
  bootstrapKey,
  credentialKey,
  eventKey,
  hookKey,
  ITEM_KINDS,
  memberKey,
  outboundEventKey,
  serverKey,
  stackKey,
  stacksIndexSk,
  teamPk,
  teamPolicyKey,
  templateVersionKey,
} from "./keys.ts";

/** Mapping between port records and table items. Field names are attribute names, with the exceptions below. */

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** The template text is stored gzip-compressed in this binary attribute. */
export const TEMPLATE_ATTR = "templateGz";

/**
 * A server's or hook's compiled spec is stored as gzip-compressed JSON in this binary attribute:
 * exact for any option value (DynamoDB maps have no null and lose nothing else, but JSON is what
 * the spec hash is over), and small, so that a long user_data stays far from the 400 KB item limit.
 */
export const SPEC_ATTR = "specGz";

/**
 * Attributes a patch may not touch: keys, index keys, and what only the store itself maintains
 * (the event counter, the release claim of the wait protocol).
 */
export const RESERVED_ATTRS = new Set([
  "pk",
  "sk",
  "kind",
  "gsi1pk",
  "gsi1sk",
  "team",
  "stackId",
  "name",
  "phase",
  "index",
  "eventSeq",
  "releasedToken",
  "releasedBy",
  TEMPLATE_ATTR,
  // A spec is written whole with its record (putServer, putHook), never patched.
  "spec",
  SPEC_ATTR,
]);

export async function compressTemplate(text: string): Promise<Uint8Array> {
  return new Uint8Array(await gzipAsync(Buffer.from(text, "utf8")));
}

async function decompressTemplate(bytes: Uint8Array): Promise<string> {
  return (await gunzipAsync(bytes)).toString("utf8");
}

/** Attributes of a record's fields, taking only the named ones: callers may pass objects with more. */
function fieldsToItem<T extends object>(record: T, fields: readonly (keyof T & string)[]): Item {
  const item: Item = {};
  for (const field of fields) {
    const value = record[field];
    if (value !== undefined) item[field] = toAttr(value);
  }
  return item;
}

const STACK_FIELDS = [
  "team",
  "stackId",
  "name",
  "member",
  "status",
  "run",
  "templateFile",
  "templateHash",
  "userdata",
  "simulate",
  "lock",
  "createdAt",
  "startedAt",
  "finishedAt",
  "error",
  "template",
  "requestHash",
  "redrive",
  "settings",
  "expiresAt",
  "stopsAt",
  "stoppedAt",
  "purgeAt",
] as const satisfies readonly (keyof StackRecord)[];

const SERVER_FIELDS = [
  "team",
  "stackId",
  "name",
  "provider",
  "type",
  "status",
  "deps",
  "dependents",
  "waitToken",
  "failedDep",
  "readyToken",
  "run",
  "attempt",
  "idempotencyToken",
  "createdRun",
  "artifacts",
  "startedAt",
  "readyAt",
  "error",
  "context",
  "replace",
  "removed",
] as const satisfies readonly (keyof ServerRecord)[];

const HOOK_FIELDS = [
  "team",
  "stackId",
  "phase",
  "index",
  "type",
  "status",
  "run",
  "output",
  "exitCode",
  "startedAt",
  "finishedAt",
  "error",
  "context",
] as const satisfies readonly (keyof HookRecord)[];

export async function stackToItem(stack: StackRecord): Promise<Item> {
  const key = stackKey(stack);
  return {
    ...fieldsToItem(stack, STACK_FIELDS),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.stack },
    gsi1pk: { S: teamPk(stack.team) },
    gsi1sk: { S: stacksIndexSk(stack.createdAt, stack.stackId) },
    [TEMPLATE_ATTR]: { B: await compressTemplate(stack.templateYaml) },
  };
}

export async function itemToStack(item: Item): Promise<StackRecord> {
  const f = new Fields(fromItem(item), "stack item");
  const lock = f.optFields("lock");
  const template = f.optFields("template");
  const redrive = f.optFields("redrive");
  const settings = f.optFields("settings");
  return {
    team: f.str("team"),
    stackId: f.str("stackId"),
    ...opt("name", f.optStr("name")),
    member: f.str("member"),
    status: oneOf(f.str("status"), STACK_STATUSES, "stack status") as StackStatus,
    run: f.num("run"),
    templateYaml: await decompressTemplate(f.bytes(TEMPLATE_ATTR)),
    templateFile: f.str("templateFile"),
    templateHash: f.str("templateHash"),
    userdata: f.optStrMap("userdata") ?? {},
    simulate: f.strings("simulate"),
    ...opt<"lock", LockHolder>(
      "lock",
      lock && { run: lock.num("run"), execution: lock.str("execution"), since: lock.str("since") },
    ),
    createdAt: f.str("createdAt"),
    startedAt: f.str("startedAt"),
    ...opt("finishedAt", f.optStr("finishedAt")),
    ...opt("error", f.optStr("error")),
    ...opt<"template", TemplateRef>("template", template && templateRef(template)),
    ...opt("requestHash", f.optStr("requestHash")),
    ...opt("redrive", redrive && { execution: redrive.str("execution"), armed: redrive.bool("armed") }),
    ...opt("purgeAt", f.optNum("purgeAt")),
    ...opt<"settings", RunSettings>(
      "settings",
      settings && {
        onFailure: oneOf(settings.str("onFailure"), ["keep", "rollback"] as const, "on_failure setting"),
        maxParallel: settings.num("maxParallel"),
        serverTimeout: settings.num("serverTimeout"),
        waitTimeout: settings.num("waitTimeout"),
        ...opt("ttlSeconds", settings.optNum("ttlSeconds")),
        ...opt("autoStopSeconds", settings.optNum("autoStopSeconds")),
      },
    ),
    ...opt("expiresAt", f.optStr("expiresAt")),
    ...opt("stopsAt", f.optStr("stopsAt")),
    ...opt("stoppedAt", f.optStr("stoppedAt")),
  };
}

export function serverToItem(server: ServerRecord): Item {
  const key = serverKey(server, server.name);
  const pendingAttr = stringSet(server.pending);
  return {
    ...fieldsToItem(server, SERVER_FIELDS),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.server },
    ...(pendingAttr && { pending: pendingAttr }),
    ...(server.spec && { [SPEC_ATTR]: encodeSpec(server.spec) }),
  };
}

export function itemToServer(item: Item): ServerRecord {
  const f = new Fields(fromItem(item), "server item");
  return {
    team: f.str("team"),
    stackId: f.str("stackId"),
    name: f.str("name"),
    provider: f.str("provider"),
    type: f.str("type"),
    status: oneOf(f.str("status"), SERVER_STATUSES, "server status") as ServerStatus,
    deps: f.strings("deps"),
    dependents: f.strings("dependents"),
    pending: f.strings("pending"),
    ...opt("waitToken", f.optStr("waitToken")),
    ...opt("failedDep", f.optStr("failedDep")),
    ...opt("readyToken", f.optStr("readyToken")),
    run: f.num("run"),
    attempt: f.num("attempt"),
    ...opt("idempotencyToken", f.optStr("idempotencyToken")),
    ...opt("createdRun", f.optNum("createdRun")),
    ...opt("artifacts", f.optStrMap("artifacts")),
    ...opt("startedAt", f.optStr("startedAt")),
    ...opt("readyAt", f.optStr("readyAt")),
    ...opt("error", f.optStr("error")),
    ...opt("spec", decodeSpec<CompiledServer>(f, "server", serverSpecProblem)),
    ...opt("context", runContext(f)),
    ...opt("replace", replaceOf(f.optFields("replace"))),
    ...(f.optBool("removed") ? { removed: true as const } : {}),
  };
}

export function hookToItem(hook: HookRecord): Item {
  const key = hookKey(hook, hook.phase, hook.index);
  return {
    ...fieldsToItem(hook, HOOK_FIELDS),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.hook },
    ...(hook.spec && { [SPEC_ATTR]: encodeSpec(hook.spec) }),
  };
}

export function itemToHook(item: Item): HookRecord {
  const f = new Fields(fromItem(item), "hook item");
  return {
    team: f.str("team"),
    stackId: f.str("stackId"),
    phase: oneOf(f.str("phase"), HOOK_PHASES, "hook phase"),
    index: f.num("index"),
    type: f.str("type"),
    status: oneOf(f.str("status"), HOOK_STATUSES, "hook status"),
    run: f.num("run"),
    ...opt("output", f.optStr("output")),
    ...opt("exitCode", f.optNum("exitCode")),
    ...opt("startedAt", f.optStr("startedAt")),
    ...opt("finishedAt", f.optStr("finishedAt")),
    ...opt("error", f.optStr("error")),
    ...opt("spec", decodeSpec<CompiledHook>(f, "hook", hookSpecProblem)),
    ...opt("context", runContext(f)),
  };
}

function encodeSpec(spec: CompiledServer | CompiledHook): { B: Uint8Array } {
  return { B: new Uint8Array(gzipSync(Buffer.from(JSON.stringify(spec), "utf8"))) };
}

/** Reads a stored spec, checking the fields every reader relies on. */
function decodeSpec<T>(
  f: Fields,
  what: string,
  problem: (spec: Record<string, unknown>) => string | undefined,
): T | undefined {
  const bytes = f.optBytes(SPEC_ATTR);
  if (bytes === undefined) return undefined;
  let spec: unknown;
  try {
    spec = JSON.parse(gunzipSync(bytes).toString("utf8"));
  } catch (error) {
    throw new StoreError(`${what} item: attribute \`${SPEC_ATTR}\` is not gzip-compressed JSON`, {
      cause: error,
    });
  }
  const found =
    typeof spec !== "object" || spec === null || Array.isArray(spec)
      ? "is not an object"
      : problem(spec as Record<string, unknown>);
  if (found) throw new StoreError(`${what} item: the stored spec ${found}`);
  return spec as T;
}

const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");

function serverSpecProblem(s: Record<string, unknown>): string | undefined {
  for (const k of ["provider", "type", "hash"] as const)
    if (typeof s[k] !== "string") return `has no string \`${k}\``;
  for (const k of ["index", "order"] as const) if (typeof s[k] !== "number") return `has no number \`${k}\``;
  if (typeof s.options !== "object" || s.options === null) return "has no `options` object";
  if (!Array.isArray(s.userData)) return "has no `userData` list";
  if (!isStrings(s.dependsOn)) return "has no `dependsOn` list of strings";
  return undefined;
}

function hookSpecProblem(s: Record<string, unknown>): string | undefined {
  if (typeof s.type !== "string") return "has no string `type`";
  if (typeof s.continueOnError !== "boolean") return "has no boolean `continueOnError`";
  const params = s.params as { holes?: unknown } | null;
  if (typeof params !== "object" || params === null || !Array.isArray(params.holes))
    return "has no compiled `params`";
  const secrets = s.secrets as { userdata?: unknown; team?: unknown } | null;
  if (
    typeof secrets !== "object" ||
    secrets === null ||
    !isStrings(secrets.userdata) ||
    !isStrings(secrets.team)
  )
    return "has no `secrets` names";
  return undefined;
}

function replaceOf(f: Fields | undefined): ServerRecord["replace"] {
  if (!f) return undefined;
  const options = f.optMap("options");
  return { provider: f.str("provider"), ...(options ? { options } : {}) };
}

function runContext(f: Fields): RunContext | undefined {
  const c = f.optFields("context");
  const secrets = c?.optFields("secrets");
  return (
    c && {
      member: c.str("member"),
      secrets: { userdata: secrets?.strings("userdata") ?? [], team: secrets?.strings("team") ?? [] },
    }
  );
}

export function artifactsToItem(key: StackKey, artifacts: Readonly<Record<string, string>>): Item {
  const k = artifactsKey(key);
  return {
    pk: { S: k.pk },
    sk: { S: k.sk },
    kind: { S: ITEM_KINDS.artifacts },
    artifacts: toAttr(artifacts),
  };
}

export function itemToArtifacts(item: Item): Record<string, string> {
  return new Fields(fromItem(item), "artifacts item").optStrMap("artifacts") ?? {};
}

export function eventToItem(key: StackKey, event: StackEvent): Item {
  const k = eventKey(key, event.seq);
  return {
    ...fieldsToItem(event, ["seq", "at", "type", "server", "message"]),
    pk: { S: k.pk },
    sk: { S: k.sk },
    kind: { S: ITEM_KINDS.event },
  };
}

export function itemToEvent(item: Item): StackEvent {
  const f = new Fields(fromItem(item), "event item");
  return {
    seq: f.num("seq"),
    at: f.str("at"),
    type: f.str("type"),
    ...opt("server", f.optStr("server")),
    message: f.str("message"),
  };
}

/** A template version item, its YAML already compressed (see {@link compressTemplate}). */
export function templateVersionToItem(version: TemplateVersion, yamlGz: Uint8Array): Item {
  const key = templateVersionKey(version.team, version.name, version.version);
  return {
    ...fieldsToItem(version, ["team", "name", "version", "hash", "author", "createdAt"]),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.templateVersion },
    [TEMPLATE_ATTR]: { B: yamlGz },
  };
}

export async function itemToTemplateVersion(item: Item): Promise<TemplateVersion> {
  const f = new Fields(fromItem(item), "template version item");
  return {
    team: f.str("team"),
    name: f.str("name"),
    version: f.num("version"),
    yaml: await decompressTemplate(f.bytes(TEMPLATE_ATTR)),
    hash: f.str("hash"),
    author: f.str("author"),
    createdAt: f.str("createdAt"),
  };
}

/** The template catalog item: every template name of the team, and its default template. */
export function itemToTemplateCatalog(item: Item | undefined): {
  names: string[];
  default: TemplateRef | undefined;
} {
  if (item === undefined) return { names: [], default: undefined };
  const f = new Fields(fromItem(item), "template catalog item");
  const def = f.optFields("default");
  return { names: f.strings("names"), default: def && templateRef(def) };
}

export function memberToItem(member: MemberRecord): Item {
  const key = memberKey(member.team, member.member);
  return {
    ...fieldsToItem(member, ["team", "member", "data", "updatedAt", "left"]),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.member },
  };
}

export function itemToMember(item: Item): MemberRecord {
  const f = new Fields(fromItem(item), "member item");
  const left = f.optFields("left");
  return {
    team: f.str("team"),
    member: f.str("member"),
    data: f.optStrMap("data") ?? {},
    updatedAt: f.str("updatedAt"),
    ...opt("left", left && { at: left.str("at"), event: left.str("event") }),
  };
}

export function teamPolicyToItem(policy: TeamPolicyRecord): Item {
  const key = teamPolicyKey(policy.team);
  return {
    ...fieldsToItem(policy, ["team", "updatedAt", "updatedBy", "onMemberLeft"]),
    // A list, not a string set: a set cannot be empty, and an empty policy allows nothing.
    providers: { L: policy.providers.map((p) => ({ S: p })) },
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.teamPolicy },
  };
}

export function itemToTeamPolicy(item: Item): TeamPolicyRecord {
  const f = new Fields(fromItem(item), "team policy item");
  const onMemberLeft = f.optStr("onMemberLeft");
  return {
    team: f.str("team"),
    providers: f.strings("providers"),
    updatedAt: f.str("updatedAt"),
    updatedBy: f.str("updatedBy"),
    ...opt(
      "onMemberLeft",
      onMemberLeft === undefined ? undefined : oneOf(onMemberLeft, ON_MEMBER_LEFT, "on_member_left"),
    ),
  };
}

const CREDENTIAL_FIELDS = [
  "team",
  "name",
  // A role reference's (aws), or a provider's fields (`credentialKind` fields).
  "provider",
  "fields",
  "secretFields",
  "region",
  "instanceProfile",
  "updatedAt",
  "roleArn",
  "externalId",
  "secretArn",
] as const;

/**
 * A credential item: a reference (a role to assume or a secret's ARN), or a provider's non-secret
 * fields and the names of its secret ones; never key material.
 */
export function credentialToItem(credential: TeamCredentialRecord): Item {
  const key = credentialKey(credential.team, credential.name);
  const fields = credential as unknown as Record<(typeof CREDENTIAL_FIELDS)[number], unknown>;
  return {
    ...fieldsToItem(fields, CREDENTIAL_FIELDS),
    pk: { S: key.pk },
    sk: { S: key.sk },
    // `kind` is the item kind in every other item: the credential's own kind is `credentialKind`.
    kind: { S: ITEM_KINDS.credential },
    credentialKind: { S: credential.kind },
  };
}

export function itemToCredential(item: Item): TeamCredentialRecord {
  const f = new Fields(fromItem(item), "credential item");
  const team = f.str("team");
  const name = f.str("name");
  const updatedAt = f.str("updatedAt");
  const kind = oneOf(f.str("credentialKind"), ["role", "keys", "fields"] as const, "credential kind");
  if (kind === "fields") {
    const fields = f.optStrMap("fields") ?? {};
    return {
      kind,
      team,
      name,
      provider: f.str("provider"),
      fields,
      secretFields: f.strings("secretFields"),
      updatedAt,
    };
  }
  const common = {
    team,
    name,
    region: f.str("region"),
    ...opt("instanceProfile", f.optStr("instanceProfile")),
    updatedAt,
  };
  return kind === "role"
    ? { ...common, kind, roleArn: f.str("roleArn"), externalId: f.str("externalId") }
    : { ...common, kind, secretArn: f.str("secretArn") };
}

export function bootstrapToItem(record: BootstrapRecord): Item {
  const key = bootstrapKey(record.team, record.credential, record.region);
  return {
    ...fieldsToItem(record, [
      "team",
      "credential",
      "region",
      "status",
      "owner",
      "leaseUntil",
      "resources",
      "updatedAt",
    ]),
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.bootstrap },
  };
}

export function itemToBootstrap(item: Item): BootstrapRecord {
  const f = new Fields(fromItem(item), "bootstrap item");
  const r = f.optFields("resources");
  return {
    team: f.str("team"),
    credential: f.str("credential"),
    region: f.str("region"),
    status: oneOf(f.str("status"), ["CREATING", "READY"] as const, "bootstrap status"),
    ...opt("owner", f.optStr("owner")),
    ...opt("leaseUntil", f.optStr("leaseUntil")),
    ...opt(
      "resources",
      r && {
        vpcId: r.str("vpcId"),
        subnetId: r.str("subnetId"),
        internetGatewayId: r.str("internetGatewayId"),
        routeTableId: r.str("routeTableId"),
        securityGroupId: r.str("securityGroupId"),
        keyName: r.str("keyName"),
      },
    ),
    updatedAt: f.str("updatedAt"),
  };
}

/**
 * An outbound event item. The detail is stored as JSON text: it is arbitrary JSON (nulls
 * included), which DynamoDB maps would not round-trip exactly.
 */
export function outboundEventToItem(event: OutboundEvent): Item {
  const key = outboundEventKey(outboundEventTeam(event), event.id);
  const at = Date.parse(event.time);
  if (Number.isNaN(at))
    throw new StoreError(
      `outbound event \`${event.id}\`: time \`${event.time}\` is not a date: expected an ISO 8601 time`,
    );
  return {
    ...fieldsToItem(event, ["id", "source", "detailType", "time"]),
    detailJson: { S: JSON.stringify(event.detail) },
    pk: { S: key.pk },
    sk: { S: key.sk },
    kind: { S: ITEM_KINDS.outboundEvent },
    purgeAt: { N: String(Math.floor(at / 1000) + OUTBOUND_EVENT_KEEP_DAYS * 86_400) },
  };
}

/** How long a team's outbound events are kept in the table (its TTL deletes them after). */
export const OUTBOUND_EVENT_KEEP_DAYS = 30;

/**
 * The team an outbound event is about (`detail.team`, which every teamstack event carries): its
 * record goes in that team's partition.
 * @throws StoreError when the detail names no team.
 */
export function outboundEventTeam(event: OutboundEvent): string {
  const team = event.detail.team;
  if (typeof team !== "string" || team === "") {
    throw new StoreError(
      `outbound event \`${event.id}\`: its detail names no team: expected \`detail.team\`, the team it is about`,
    );
  }
  return team;
}

export function itemToOutboundEvent(item: Item): OutboundEvent {
  const f = new Fields(fromItem(item), "outbound event item");
  const id = f.str("id");
  const detail: unknown = JSON.parse(f.str("detailJson"));
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) {
    throw new StoreError(`outbound event \`${id}\`: stored detail is not a JSON object`);
  }
  return {
    id,
    source: f.str("source"),
    detailType: f.str("detailType"),
    time: f.str("time"),
    detail: detail as Record<string, unknown>,
  };
}

function templateRef(f: Fields): TemplateRef {
  return { name: f.str("name"), version: f.num("version") };
}

function oneOf<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new StoreError(`stored ${what} is \`${value}\`, expected one of ${allowed.join(", ")}`);
}
