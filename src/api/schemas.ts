import { ROLLOUT_STACK_STATES, ROLLOUT_STATES } from "../core/rollout.ts";
import { HOOK_PHASES } from "../core/template.ts";
import { LOG_LIMIT_BYTES, LOG_PAGE_BYTES } from "../ports/server-logs.ts";
import { ON_MEMBER_LEFT, SERVER_STATUSES, STACK_STATUSES } from "../ports/store.ts";
import { PROVIDERS } from "../providers/registry.ts";
import type { Infer, Schema } from "./json-schema.ts";
import { EXEC_MAX_OUTPUT_BYTES } from "./server-access.ts";

/**
 * The bodies the API answers with, as JSON Schemas: routes.ts names them in each route's
 * `response`, openapi.ts publishes them in /openapi.json, and schemas-agree.ts makes tsc check
 * that the views the service returns are exactly these (`Infer<typeof SCHEMA>`). Every one is
 * declared `as const satisfies Schema`, so its TypeScript type can be read off it.
 */

const text = { type: "string" } as const satisfies Schema;
const time = { type: "string", format: "date-time" } as const satisfies Schema;
const whole = { type: "integer" } as const satisfies Schema;
const nullable = <const S extends Schema>(schema: S, description?: string) =>
  ({
    oneOf: [schema, { type: "null" }],
    ...(description ? { description } : {}),
  }) as const;

const PROVIDER = {
  type: "string",
  pattern: `^(${PROVIDERS.names.join("|")})$`,
  description: "A provider's name.",
} as const satisfies Schema;
const providerList = { type: "array", items: PROVIDER } as const satisfies Schema;
const stringValues = {
  type: "object",
  additionalProperties: { type: "string" },
  description: "Names to string values.",
} as const satisfies Schema;

/** Every error's body (4xx and 5xx). */
export const ERROR = {
  type: "object",
  properties: {
    error: { type: "string", description: "A stable code, e.g. NotFound, Conflict, InvalidTemplate." },
    message: { type: "string", description: "What went wrong, the value found and what was expected." },
    requestId: {
      type: "string",
      description: "On a 500 or 503: the id to report; the server's log has the details.",
    },
    problems: {
      type: "array",
      description: "On a 422 for a template: every problem, at its line and column.",
      items: {
        type: "object",
        properties: {
          file: text,
          line: { type: "integer", minimum: 1 },
          column: { type: "integer", minimum: 1 },
          message: text,
        },
        required: ["file", "line", "column", "message"],
        additionalProperties: false,
      },
    },
  },
  required: ["error", "message"],
  additionalProperties: false,
} as const satisfies Schema;

/**
 * What API Gateway answers by itself in front of the deployed API: 401 from its JWT authorizer,
 * 429 when throttled (`teamstack serve` answers with {@link ERROR} instead).
 */
export const GATEWAY_MESSAGE = {
  type: "object",
  properties: { message: { type: "string", description: "e.g. Unauthorized, Too Many Requests." } },
  required: ["message"],
  additionalProperties: false,
} as const satisfies Schema;

/** The OpenAPI document itself (GET /openapi.json). */
export const OPENAPI_DOCUMENT = {
  type: "object",
  properties: { openapi: { type: "string", pattern: "^3\\.1\\.\\d+$" } },
  required: ["openapi", "info", "paths"],
  additionalProperties: { description: "The rest of OpenAPI 3.1: info, paths, components, ..." },
  description: "This document (OpenAPI 3.1).",
} as const satisfies Schema;

/** PUT /teams/{team}/templates/{name}. */
export const TEMPLATE_PUBLISHED = {
  type: "object",
  properties: {
    name: text,
    version: { type: "integer", minimum: 1, description: "The version the YAML is (new, or the newest)." },
    hash: { type: "string", pattern: "^[0-9a-f]{64}$", description: "sha256 of the YAML, hex." },
  },
  required: ["name", "version", "hash"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/templates. */
export const TEMPLATE_LIST = {
  type: "array",
  description: "The team's templates.",
  items: {
    type: "object",
    properties: {
      name: text,
      latest: { type: "integer", minimum: 1, description: "The newest version." },
      hash: { type: "string", description: "sha256 of the newest version's YAML, hex." },
      updatedAt: { ...time, description: "When the newest version was published." },
      default: { type: "boolean", description: "Whether it is the team's default for new members." },
      defaultVersion: { type: "integer", description: "The default's version (when `default`)." },
    },
    required: ["name", "latest", "hash", "updatedAt", "default"],
    additionalProperties: false,
  },
} as const satisfies Schema;

/** GET /teams/{team}/templates/{name}?version=N: one version with its YAML (the console's editor and diff read it). */
export const TEMPLATE_TEXT = {
  type: "object",
  properties: {
    name: text,
    version: { type: "integer", minimum: 1 },
    hash: text,
    author: { type: "string", description: "The member who published it." },
    createdAt: time,
    yaml: { type: "string", description: "The template as published." },
  },
  required: ["name", "version", "hash", "author", "createdAt", "yaml"],
  additionalProperties: false,
} as const satisfies Schema;

export const TEMPLATE_VERSIONS = {
  type: "object",
  properties: {
    name: text,
    defaultVersion: {
      type: "integer",
      description: "The version new members get, when this template is the team's default.",
    },
    versions: {
      type: "array",
      description: "Every version.",
      items: {
        type: "object",
        properties: {
          version: { type: "integer", minimum: 1 },
          hash: text,
          author: { type: "string", description: "The member who published it." },
          createdAt: time,
        },
        required: ["version", "hash", "author", "createdAt"],
        additionalProperties: false,
      },
    },
  },
  required: ["name", "versions"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/templates/{name}: its versions, or with `?version=N` that version's text. */
export const TEMPLATE = {
  oneOf: [TEMPLATE_VERSIONS, TEMPLATE_TEXT],
  description: "Without `version`: the template's versions; with it: that version with its YAML.",
} as const satisfies Schema;

/** POST /teams/{team}/templates/{name}/default. */
export const DEFAULT_TEMPLATE = {
  type: "object",
  properties: { name: text, version: { type: "integer", minimum: 1 } },
  required: ["name", "version"],
  additionalProperties: false,
} as const satisfies Schema;

/** A credential as listed: its provider and the names of the fields set, never a value. */
const credentialProperties = {
  name: text,
  provider: { ...PROVIDER, description: "The provider that uses it." },
  fields: {
    type: "array",
    items: text,
    description: "The names of the fields set, secret ones included.",
  },
  secretFields: {
    type: "array",
    items: text,
    description: "The names of the secret fields set; their values are never answered.",
  },
  updatedAt: time,
} as const;

/** PUT /teams/{team}/credentials/{name}: secret fields are kept, never shown. */
export const CREDENTIAL = {
  type: "object",
  properties: {
    ...credentialProperties,
    values: { ...stringValues, description: "The values of its non-secret fields." },
    kind: {
      type: "string",
      enum: ["role"],
      description: "For the role reference (aws): as answered before credentials were for any provider.",
    },
    roleArn: text,
    region: text,
  },
  required: ["name", "provider", "fields", "values", "secretFields", "updatedAt"],
  additionalProperties: false,
} as const satisfies Schema;

/** DELETE /teams/{team}/credentials/{name}. */
export const CREDENTIAL_REMOVED = {
  type: "object",
  properties: { name: text, removed: { type: "boolean" } },
  required: ["name", "removed"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET and PUT /teams/{team}/policy. */
export const POLICY = {
  type: "object",
  properties: {
    team: text,
    providers: {
      ...providerList,
      description: "What the team allows (the default: every provider offered).",
    },
    default: { type: "boolean", description: "True when no admin has set a policy." },
    onMemberLeft: {
      type: "string",
      enum: ON_MEMBER_LEFT,
      description: "What a Team Member Left event does to the member's stacks.",
    },
    updatedAt: time,
    updatedBy: text,
    offered: { ...providerList, description: "What this deployment can create." },
    usable: {
      type: "object",
      properties: { admins: providerList, members: providerList },
      required: ["admins", "members"],
      additionalProperties: false,
      description: "What admins and members may use here: allowed, offered, and offered to their role.",
    },
  },
  required: ["team", "providers", "default", "onMemberLeft", "offered", "usable"],
  additionalProperties: false,
} as const satisfies Schema;

/** PUT /teams/{team}/members/{member}. */
export const MEMBER = {
  type: "object",
  properties: { member: text, data: stringValues },
  required: ["member", "data"],
  additionalProperties: false,
} as const satisfies Schema;

/** A run started for a stack: rerun, destroy, stop, start. */
export const STARTED = {
  type: "object",
  properties: {
    stackId: text,
    executionName: { type: "string", description: "The execution started (or running already) for it." },
  },
  required: ["stackId", "executionName"],
  additionalProperties: false,
  description: "The stack and the execution started for it.",
} as const satisfies Schema;

/** POST /teams/{team}/stacks, and a signup. */
export const STACK_CREATED = {
  type: "object",
  properties: {
    stackId: text,
    executionName: nullable(
      text,
      "The execution provisioning it; null when a signup found the member's stack of that name already.",
    ),
  },
  required: ["stackId", "executionName"],
  additionalProperties: false,
  description: "The stack and the execution started for it.",
} as const satisfies Schema;

const STACK_STATUS_NAME = {
  type: "string",
  enum: [...STACK_STATUSES, "INTERRUPTED"],
  description: "INTERRUPTED: its run is gone (killed) while the store says it runs.",
} as const satisfies Schema;

/** GET /teams/{team}/stacks. */
export const STACK_LIST = {
  type: "array",
  description: "The stacks the caller may see.",
  items: {
    type: "object",
    properties: {
      stackId: text,
      name: nullable(text, "null for stacks made before names."),
      member: text,
      status: STACK_STATUS_NAME,
      template: nullable(text, "null for a stack made from a YAML body."),
      version: nullable(whole),
      startedAt: time,
      latest: { type: "integer", description: "With `?outdated=true`: the template's newest version." },
    },
    required: ["stackId", "name", "member", "status", "template", "version", "startedAt"],
    additionalProperties: false,
  },
} as const satisfies Schema;

/** One server of a stack's status. */
const STATUS_SERVER = {
  type: "object",
  properties: {
    name: text,
    status: {
      type: "string",
      enum: SERVER_STATUSES,
      description: "WAITING: for the servers it depends on.",
    },
    provider: text,
    type: { type: "string", description: "The provider's server type (e.g. aws_instance)." },
    dependsOn: { type: "array", items: text, description: "The servers it references." },
    artifacts: { ...stringValues, description: "What it made: IP addresses, ids." },
    startedAt: nullable(time),
    readyAt: nullable(time),
    error: nullable(text),
    change: nullable(
      { type: "string", enum: ["replacing", "removing"] },
      "While an update runs: replacing the copy that exists, or removing it.",
    ),
  },
  required: [
    "name",
    "status",
    "provider",
    "type",
    "dependsOn",
    "artifacts",
    "startedAt",
    "readyAt",
    "error",
    "change",
  ],
  additionalProperties: false,
} as const satisfies Schema;

/** One hook of a stack's status. */
const STATUS_HOOK = {
  type: "object",
  properties: {
    phase: { type: "string", enum: HOOK_PHASES },
    index: { type: "integer", minimum: 0 },
    type: { type: "string", description: "The hook type (webhook, run_script, ...)." },
    status: { type: "string", enum: ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"] },
    output: nullable(text, "What it printed or answered, masked."),
    exitCode: nullable(whole),
    error: nullable(text),
  },
  required: ["phase", "index", "type", "status", "output", "exitCode", "error"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stacks/{id}. */
export const STACK_STATUS = {
  type: "object",
  properties: {
    stackId: text,
    name: nullable(text),
    team: text,
    member: text,
    template: {
      type: "object",
      description: "The template version it is on (or converging to, while an update runs).",
      properties: { name: nullable(text), version: nullable(whole), hash: text },
      required: ["name", "version", "hash"],
      additionalProperties: false,
    },
    status: STACK_STATUS_NAME,
    run: { type: "integer", minimum: 0, description: "How many runs it has had." },
    servers: { type: "array", items: STATUS_SERVER, description: "In template order." },
    hooks: { type: "array", items: STATUS_HOOK, description: "pre, post, destroy, undo; each in order." },
    artifacts: {
      type: "object",
      description: "The stack's artifacts (a hook's) and each server's, under its name.",
      additionalProperties: { oneOf: [text, stringValues] },
    },
    lock: nullable(
      {
        type: "object",
        properties: { run: whole, execution: text, since: time },
        required: ["run", "execution", "since"],
        additionalProperties: false,
      },
      "The run holding the stack, if one does.",
    ),
    startedAt: time,
    finishedAt: nullable(time),
    error: nullable(text),
    expiresAt: { ...time, description: "When ttl destroys the stack (when it has one)." },
    stopsAt: { ...time, description: "When auto_stop stops the stack (while it runs with one)." },
    stoppedAt: { ...time, description: "When it was last stopped." },
    updateAvailable: { type: "boolean", description: "Whether its template has a newer version." },
  },
  required: [
    "stackId",
    "name",
    "team",
    "member",
    "template",
    "status",
    "run",
    "servers",
    "hooks",
    "artifacts",
    "lock",
    "startedAt",
    "finishedAt",
    "error",
    "updateAvailable",
  ],
  additionalProperties: false,
} as const satisfies Schema;

const VERSION_REF = {
  type: "object",
  properties: {
    name: text,
    version: { type: "integer", minimum: 1 },
    hash: { type: "string", description: "sha256 of the template's YAML, hex." },
  },
  required: ["hash"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stacks/{id}/changes: what an update does (see src/core/change-set.ts). */
export const CHANGE_SET = {
  type: "object",
  properties: {
    from: VERSION_REF,
    to: VERSION_REF,
    servers: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: text,
          action: { type: "string", enum: ["keep", "create", "replace", "delete"] },
          reasons: { type: "array", items: text, description: "Why, in the user's words; empty for keep." },
        },
        required: ["name", "action", "reasons"],
        additionalProperties: false,
      },
    },
    hooks: {
      type: "array",
      items: {
        type: "object",
        properties: {
          phase: { type: "string", enum: ["pre", "post", "destroy"] },
          index: { type: "integer", minimum: 0 },
          type: text,
          action: {
            type: "string",
            enum: ["run", "skip"],
            description: "skip: it succeeded before, as it is now.",
          },
        },
        required: ["phase", "index", "type", "action"],
        additionalProperties: false,
      },
    },
  },
  required: ["from", "to", "servers", "hooks"],
  additionalProperties: false,
  description: "Per server keep, create, replace or delete with the reasons; which hooks run.",
} as const satisfies Schema;

/** POST /teams/{team}/stacks/{id}/update. */
export const UPDATE_STARTED = {
  type: "object",
  properties: { stackId: text, executionName: text, changes: CHANGE_SET },
  required: ["stackId", "executionName", "changes"],
  additionalProperties: false,
} as const satisfies Schema;

/** POST /teams/{team}/stacks/{id}/extend. */
export const EXTENDED = {
  type: "object",
  properties: {
    stackId: text,
    expiresAt: { ...time, description: "When ttl destroys the stack (when it has a ttl)." },
    stopsAt: { ...time, description: "When auto_stop stops the stack (when it has one)." },
  },
  required: ["stackId"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stacks/{id}/events. */
export const STACK_EVENTS = {
  type: "array",
  description: "What happened to the stack, in order.",
  items: {
    type: "object",
    properties: {
      seq: { type: "integer", minimum: 0, description: "Increasing per stack." },
      at: time,
      type: { type: "string", description: "e.g. RunStarted, ServerReady, HookFailed." },
      server: text,
      message: text,
    },
    required: ["seq", "at", "type", "message"],
    additionalProperties: false,
  },
} as const satisfies Schema;

/** A rollout, without its stacks (GET /teams/{team}/rollouts). */
const ROLLOUT_FIELDS = {
  rolloutId: text,
  template: text,
  version: { type: "integer", minimum: 1, description: "The version every stack goes to." },
  canary: { type: "integer", minimum: 0 },
  batch: { type: "integer", minimum: 1 },
  max_failed_percent: { type: "integer", minimum: 0, maximum: 100 },
  state: { type: "string", enum: ROLLOUT_STATES },
  total: { type: "integer", minimum: 0, description: "Stacks the rollout took on." },
  createdBy: { type: "string", description: "The admin who started it." },
  createdAt: time,
  finishedAt: time,
  reason: { type: "string", description: "Why it ended." },
} as const satisfies Record<string, Schema>;
const ROLLOUT_REQUIRED = [
  "rolloutId",
  "template",
  "version",
  "canary",
  "batch",
  "max_failed_percent",
  "state",
  "total",
  "createdBy",
  "createdAt",
] as const;

export const ROLLOUT_SUMMARY = {
  type: "object",
  properties: ROLLOUT_FIELDS,
  required: ROLLOUT_REQUIRED,
  additionalProperties: false,
} as const satisfies Schema;

export const ROLLOUT_LIST = {
  type: "array",
  items: ROLLOUT_SUMMARY,
  description: "The team's rollouts, newest first.",
} as const satisfies Schema;

/** A rollout with its stacks (POST .../rollout, GET /teams/{team}/rollouts/{id}). */
export const ROLLOUT = {
  type: "object",
  properties: {
    ...ROLLOUT_FIELDS,
    counts: {
      type: "object",
      description: "Stacks per state.",
      properties: Object.fromEntries(
        ROLLOUT_STACK_STATES.map((s) => [s, { type: "integer", minimum: 0 }]),
      ) as {
        readonly [K in (typeof ROLLOUT_STACK_STATES)[number]]: {
          readonly type: "integer";
          readonly minimum: 0;
        };
      },
      required: ROLLOUT_STACK_STATES,
      additionalProperties: false,
    },
    stacks: {
      type: "array",
      description: "Every stack it takes on, in order.",
      items: {
        type: "object",
        properties: {
          stackId: text,
          member: text,
          wave: { type: "integer", minimum: 0, description: "0 is the canary (when there is one)." },
          canary: { type: "boolean" },
          fromVersion: { type: "integer", description: "The version it was on when the rollout started." },
          state: { type: "string", enum: ROLLOUT_STACK_STATES },
          execution: { type: "string", description: "Its update's execution, once started." },
          startedAt: time,
          finishedAt: time,
          error: { type: "string", description: "Why it failed or was skipped." },
        },
        required: ["stackId", "member", "wave", "canary", "fromVersion", "state"],
        additionalProperties: false,
      },
    },
  },
  required: [...ROLLOUT_REQUIRED, "counts", "stacks"],
  additionalProperties: false,
} as const satisfies Schema;

/** What a Team Member Left event did (POST /events). */
export const MEMBER_LEFT = {
  type: "object",
  properties: {
    team: text,
    member: text,
    onMemberLeft: { type: "string", enum: ON_MEMBER_LEFT },
    stacks: {
      type: "array",
      items: {
        type: "object",
        properties: {
          stackId: text,
          action: { type: "string", enum: ON_MEMBER_LEFT },
          outcome: {
            type: "string",
            enum: ["started", "kept", "already"],
            description: "already: this event acted on it before, or another run is destroying it.",
          },
          executionName: text,
        },
        required: ["stackId", "action", "outcome"],
        additionalProperties: false,
      },
    },
  },
  required: ["team", "member", "onMemberLeft", "stacks"],
  additionalProperties: false,
} as const satisfies Schema;

/** POST /events: a signup's stack, or what leaving did. */
export const EVENT_DELIVERED = {
  oneOf: [STACK_CREATED, MEMBER_LEFT],
  description: "Signed up: the stack and its execution. Left: what happened to each of the member's stacks.",
} as const satisfies Schema;

/** POST /callbacks/ready/... */
export const READY = {
  type: "object",
  properties: { server: text, ready: { type: "boolean", description: "Whether exit code was 0." } },
  required: ["server", "ready"],
  additionalProperties: false,
} as const satisfies Schema;

const logPageProperties = {
  attempt: {
    type: "integer",
    minimum: 0,
    description: "The attempt this text is of (1 is the first; 0: the log has no attempt yet).",
  },
  attempts: { type: "integer", minimum: 0, description: "How many attempts the log has." },
  offset: {
    type: "integer",
    minimum: 0,
    description: "The byte offset into the attempt's kept, masked text where `text` starts.",
  },
  next: {
    type: "integer",
    minimum: 0,
    description: "The byte offset after `text`: ask again with `after=next`.",
  },
  text: { type: "string", description: `The text, at most ${LOG_PAGE_BYTES} bytes of it, masked.` },
  complete: {
    type: "boolean",
    description: "The attempt has ended and `next` is the end of its text: no more will come.",
  },
  truncated: {
    type: "boolean",
    description: "Part of the attempt's output was cut to keep it within `limitBytes`.",
  },
  limitBytes: {
    type: "integer",
    description: `The most an attempt keeps (${LOG_LIMIT_BYTES}): its first bytes as they come, then, when it ends, a line saying how much was cut and its last 64 KiB.`,
  },
  kind: {
    type: "string",
    enum: ["user_data", "on_start", "hook"],
    description: "What the attempt ran.",
  },
  exitCode: { type: "integer", description: "The attempt's exit code, once it has ended (when known)." },
} as const satisfies Record<string, Schema>;
const logPageRequired = [
  "attempt",
  "attempts",
  "offset",
  "next",
  "text",
  "complete",
  "truncated",
  "limitBytes",
  "kind",
] as const;

/** GET /teams/{team}/stacks/{id}/servers/{server}/logs: one page of a server's log. */
export const SERVER_LOG = {
  type: "object",
  properties: { server: text, ...logPageProperties },
  required: ["server", ...logPageRequired],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stacks/{id}/hooks/{hook}/logs: one page of a hook's log. */
export const HOOK_LOG = {
  type: "object",
  properties: { hook: { type: "string", description: "PHASE:INDEX, such as post:1." }, ...logPageProperties },
  required: ["hook", ...logPageRequired],
  additionalProperties: false,
} as const satisfies Schema;

/** POST /teams/{team}/stacks/{id}/servers/{server}/exec. */
export const EXEC_RESULT = {
  type: "object",
  properties: {
    exitCode: { type: "integer", description: "The command's exit code (124: killed at its timeout)." },
    output: { type: "string", description: "stdout and stderr together, masked." },
    truncated: { type: "boolean", description: `The output was cut at ${EXEC_MAX_OUTPUT_BYTES} bytes.` },
  },
  required: ["exitCode", "output", "truncated"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /whoami. */
export const WHOAMI = {
  type: "object",
  properties: {
    team: text,
    member: text,
    admin: { type: "boolean", description: "Whether the token is a team admin's." },
  },
  required: ["team", "member", "admin"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/members. */
export const MEMBER_LIST = {
  type: "object",
  properties: {
    members: {
      type: "array",
      items: {
        type: "object",
        properties: {
          member: text,
          data: {
            ...stringValues,
            description: "The member's non-secret data ($koding.userdata.*); secrets are never here.",
          },
          updatedAt: time,
          left: { type: "boolean", description: "A Team Member Left event came for them." },
        },
        required: ["member", "data", "updatedAt", "left"],
        additionalProperties: false,
      },
    },
  },
  required: ["members"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/credentials: names, never values. */
export const CREDENTIAL_LIST = {
  type: "object",
  properties: {
    credentials: {
      type: "array",
      items: {
        type: "object",
        properties: credentialProperties,
        required: ["name", "provider", "fields", "secretFields", "updatedAt"],
        additionalProperties: false,
      },
    },
  },
  required: ["credentials"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/events: the team's outbound events, newest first. */
export const TEAM_EVENTS = {
  type: "object",
  properties: {
    events: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: text,
          type: {
            type: "string",
            description: "The event's detail-type: Stack Provisioned, Stack Failed, ...",
          },
          at: time,
          detail: {
            type: "object",
            additionalProperties: { description: "Any JSON value." },
            description: "The event's detail: team, stackId, member, ... (no secret is ever in it).",
          },
        },
        required: ["id", "type", "at", "detail"],
        additionalProperties: false,
      },
    },
  },
  required: ["events"],
  additionalProperties: false,
} as const satisfies Schema;

/** POST /auth/one-time: a signed-in session. */
export const SESSION = {
  type: "object",
  properties: {
    token: { type: "string", description: "A bearer token for the API." },
    team: text,
    member: text,
    admin: { type: "boolean" },
    expiresAt: { ...time, description: "When the token expires." },
  },
  required: ["token", "team", "member", "admin", "expiresAt"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /console/config.json: where the console finds the API and how it signs in. */
export const CONSOLE_CONFIG = {
  type: "object",
  properties: {
    apiBase: { type: "string", description: "The API's base URL; empty: the console's own origin." },
    stream: {
      type: "boolean",
      description: "Whether GET /teams/{team}/stream answers; otherwise poll with If-None-Match.",
    },
    signIn: {
      type: "object",
      properties: {
        token: { type: "boolean", description: "A pasted bearer token (`teamstack token`)." },
        oneTime: { type: "boolean", description: "One-time links (POST /auth/one-time)." },
        oidc: nullable(
          {
            type: "object",
            properties: { issuer: text, clientId: text, scope: text },
            required: ["issuer", "clientId", "scope"],
            additionalProperties: false,
          },
          "The OpenID Connect provider to sign in with (authorization code flow with PKCE), or null.",
        ),
      },
      required: ["token", "oneTime", "oidc"],
      additionalProperties: false,
    },
  },
  required: ["apiBase", "stream", "signIn"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stream, `event: stack`: a stack event of a stack the caller may see. */
export const STREAM_STACK = {
  type: "object",
  properties: {
    stackId: text,
    member: { type: "string", description: "The stack's member (empty when the stack is gone)." },
    type: { type: "string", description: "The StackEvent's type, as GET .../events lists it." },
    seq: { type: "integer", minimum: 0, description: "The event's number in its stack." },
    at: time,
  },
  required: ["stackId", "member", "type", "seq", "at"],
  additionalProperties: false,
} as const satisfies Schema;

/** GET /teams/{team}/stream, `event: rollout` (admins only): a rollout of the team changed. */
export const STREAM_ROLLOUT = {
  type: "object",
  properties: { rolloutId: text },
  required: ["rolloutId"],
  additionalProperties: false,
} as const satisfies Schema;

/**
 * GET /teams/{team}/stream: a `text/event-stream` (teamstack serve only). Its messages' `data`
 * are {@link STREAM_STACK} (`event: stack`) and {@link STREAM_ROLLOUT} (`event: rollout`).
 */
export const EVENT_STREAM = {
  type: "string",
  description:
    "Server-sent events: `event: stack` with `data` a StreamStack for every event of a stack the caller may see, `event: rollout` with `data` a StreamRollout (admins), and a comment line `: keepalive` every 15 s. Read it with fetch and a stream reader (EventSource sends no Authorization header).",
} as const satisfies Schema;

/** The bodies' TypeScript types, for clients written in TypeScript (the console, the CLI). */
export type ErrorBody = Infer<typeof ERROR>;
export type StackStatusBody = Infer<typeof STACK_STATUS>;
export type StackListBody = Infer<typeof STACK_LIST>;
export type StackEventsBody = Infer<typeof STACK_EVENTS>;
export type ChangeSetBody = Infer<typeof CHANGE_SET>;
export type TemplateListBody = Infer<typeof TEMPLATE_LIST>;
export type TemplateVersionsBody = Infer<typeof TEMPLATE_VERSIONS>;
export type TemplateTextBody = Infer<typeof TEMPLATE_TEXT>;
export type PolicyBody = Infer<typeof POLICY>;
export type RolloutBody = Infer<typeof ROLLOUT>;
export type RolloutListBody = Infer<typeof ROLLOUT_LIST>;
export type ServerLogBody = Infer<typeof SERVER_LOG>;
export type HookLogBody = Infer<typeof HOOK_LOG>;
export type ExecResultBody = Infer<typeof EXEC_RESULT>;
export type WhoamiBody = Infer<typeof WHOAMI>;
export type MemberListBody = Infer<typeof MEMBER_LIST>;
export type CredentialListBody = Infer<typeof CREDENTIAL_LIST>;
export type TeamEventsBody = Infer<typeof TEAM_EVENTS>;
export type SessionBody = Infer<typeof SESSION>;
export type ConsoleConfigBody = Infer<typeof CONSOLE_CONFIG>;
export type StreamStackData = Infer<typeof STREAM_STACK>;
export type StreamRolloutData = Infer<typeof STREAM_ROLLOUT>;
