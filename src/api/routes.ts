import { CALLBACK_SIGNATURE_HEADER } from "../adapters/callback-signing.ts";
import { MAX_CREDENTIAL_VALUE } from "../core/credentials.ts";
import { checkStackFilter, type StackFilter } from "../pipeline/stack-filter.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { MAX_TEMPLATE_VERSION } from "../store/keys.ts";
import { CONSOLE_ROUTES } from "./console-routes.ts";
import { badRequest, forbidden } from "./errors.ts";
import type { Schema } from "./json-schema.ts";
import { LOGS_ROUTES } from "./logs-routes.ts";
import { ROLLOUT_ROUTES } from "./rollout-routes.ts";
import { outdatedParam } from "./rollouts.ts";
import * as S from "./schemas.ts";
import type { Caller, CreateStackRequest, InboundEvent, ReadyReport, StackService } from "./service.ts";

/**
 * The HTTP API's route table: every route with what it takes and answers (its body's schema, its
 * statuses) and what it runs. The router (router.ts) serves requests from it; openapi.ts describes
 * it at GET /openapi.json.
 */

/** What a name in a path or a body looks like (team, member, template, stack, server). */
export const NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$";
const PROVIDER_PATTERN = `^(${PROVIDERS.names.join("|")})$`;
const stringMap: Schema = {
  type: "object",
  additionalProperties: { type: "string", maxLength: 2048 },
  maxProperties: 100,
  propertyNames: { maxLength: 128 },
  description: "Names to string values.",
};

/**
 * The body of PUT /teams/{team}/credentials/{name}, from the registry: `provider` (a name or alias
 * of a provider that takes credentials) and every field of their credential schemas. Each field is
 * checked against its own provider's schema by the service (core/credentials.ts), whose messages
 * name the field and never repeat a secret value; so the patterns are in the descriptions here.
 */
function credentialBody(): Schema {
  const takers = PROVIDERS.declarations.filter((d) => d.credentials !== undefined);
  const fallback = takers.find((d) => d.credentials?.roleReference === true);
  const docs = new Map<string, { strings: boolean; lines: string[] }>();
  for (const d of takers) {
    for (const [field, spec] of Object.entries(d.credentials?.fields ?? {})) {
      const entry = docs.get(field) ?? { strings: true, lines: [] };
      const expected =
        "describe" in spec.value && spec.value.describe ? ` Expected: ${spec.value.describe}.` : "";
      entry.lines.push(
        `${d.name}: ${spec.doc}${expected}${spec.required ? " Required." : ""}${spec.secret ? " Secret: kept, never answered." : ""}`,
      );
      if (spec.value.kind !== "string") entry.strings = false;
      docs.set(field, entry);
    }
  }
  const properties: Record<string, Schema> = {
    provider: {
      type: "string",
      enum: takers.flatMap((d) => [d.name, ...d.aliases]),
      description: `The provider the credential is for: ${takers.map((d) => d.name).join(", ")}${fallback ? ` (default ${fallback.name})` : ""}.`,
    },
  };
  for (const [field, { strings, lines }] of docs) {
    const description = lines.join(" ");
    properties[field] = strings
      ? { type: "string", maxLength: MAX_CREDENTIAL_VALUE, description }
      : { description };
  }
  return { type: "object", properties, additionalProperties: false };
}

/** What a route runs with: the request, parsed and checked, and who calls. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** A member of no team on a route without auth. */
  readonly caller: Caller;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
}

export interface Route {
  readonly method: "GET" | "PUT" | "POST" | "DELETE";
  readonly path: string;
  readonly summary: string;
  /** False for the OpenAPI document and the signed readiness callbacks of instances. */
  readonly auth: boolean;
  /** `yaml`: the raw body is the template; a Schema: a JSON body checked against it; absent: no body. */
  readonly body?: "yaml" | Schema;
  readonly bodyRequired?: boolean;
  readonly success: number;
  /** Error statuses this route can answer, for the OpenAPI document. */
  readonly errors: readonly number[];
  readonly response: Schema;
  /**
   * The answer is a `text/event-stream` (its `response` describes it), served by `teamstack serve`
   * only, before the router: the router does not serve this route (404), the document declares it.
   */
  readonly eventStream?: true;
  /** Query parameters it reads (all optional), for the OpenAPI document. */
  readonly query?: readonly { readonly name: string; readonly schema: Schema }[];
  run(service: StackService, ctx: RouteContext): Promise<unknown>;
}

/** A non-default success status for a route's answer. */
export class Status {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    this.status = status;
    this.body = body;
  }
}

const createStackSchema: Schema = {
  type: "object",
  properties: {
    template: {
      type: "string",
      pattern: NAME_PATTERN,
      description: "A team template's name (its newest version).",
    },
    version: {
      type: "integer",
      minimum: 1,
      maximum: MAX_TEMPLATE_VERSION,
      description: "The template version (default: the newest).",
    },
    yaml: { type: "string", maxLength: 1024 * 1024, description: "A template given inline instead." },
    member: { type: "string", pattern: NAME_PATTERN, description: "Whose stack it is." },
    name: {
      type: "string",
      pattern: NAME_PATTERN,
      description:
        "The stack's name, unique per team and member among stacks not destroyed (default: the template's name; for a `yaml` body, the stack's id).",
    },
    userdata: stringMap,
    simulate: {
      oneOf: [
        { type: "boolean" },
        {
          type: "array",
          items: { type: "string", pattern: PROVIDER_PATTERN },
          maxItems: PROVIDERS.names.length,
        },
      ],
      description: "Run these providers' servers (or all, with true) on sim.",
    },
  },
  required: ["member"],
  additionalProperties: false,
};

/** The stack list's query (`?member=&status=&name=`), checked. */
function stackFilterOf(query: RouteContext["query"]): StackFilter {
  try {
    return checkStackFilter({ member: query.member, status: query.status, name: query.name });
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}

const signupSchema: Schema = {
  type: "object",
  properties: {
    version: { type: "string", maxLength: 16 },
    id: { type: "string", maxLength: 256, pattern: "^\\S+$" },
    source: { type: "string", pattern: "^teamstack\\.teams$" },
    "detail-type": { type: "string", pattern: "^(Team Member Signed Up|Team Member Left)$" },
    account: { type: "string", maxLength: 64 },
    time: { type: "string", maxLength: 64 },
    region: { type: "string", maxLength: 64 },
    resources: { type: "array", items: { type: "string", maxLength: 2048 }, maxItems: 20 },
    detail: {
      type: "object",
      properties: {
        team: { type: "string", pattern: NAME_PATTERN },
        member: { type: "string", pattern: NAME_PATTERN },
        userdata: stringMap,
      },
      required: ["team", "member"],
      additionalProperties: false,
    },
  },
  required: ["id", "source", "detail-type", "detail"],
  additionalProperties: false,
};

const readySchema: Schema = {
  type: "object",
  properties: {
    exitCode: {
      type: "integer",
      minimum: -2147483648,
      maximum: 2147483647,
      description: "user_data's exit code: 0 is ready.",
    },
    output: { type: "string", maxLength: 8192, description: "The end of user_data's output." },
  },
  required: ["exitCode"],
  additionalProperties: false,
};

const policySchema: Schema = {
  type: "object",
  properties: {
    providers: {
      type: "array",
      items: { type: "string", maxLength: 64 },
      maxItems: 16,
      description: `Providers the team's templates may use: any of ${PROVIDERS.names.join(", ")}; [] allows none.`,
    },
    on_member_left: {
      type: "string",
      maxLength: 64,
      description:
        "What a Team Member Left event does to the member's stacks: destroy (the default), stop or keep. Absent: unchanged.",
    },
  },
  required: ["providers"],
  additionalProperties: false,
};

/** `?version=N` of a query: a template version, or undefined (the newest). */
function versionQuery(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[1-9][0-9]{0,9}$/.test(value) || n > MAX_TEMPLATE_VERSION) {
    throw badRequest(
      `query \`version\`: expected a template version (1 to ${MAX_TEMPLATE_VERSION}), got \`${value.slice(0, 20)}\``,
    );
  }
  return n;
}

export const ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/openapi.json",
    summary: "This API's OpenAPI 3.1 document.",
    auth: false,
    success: 200,
    errors: [],
    response: S.OPENAPI_DOCUMENT,
    run: async () => undefined,
  },
  {
    method: "PUT",
    path: "/teams/{team}/templates/{name}",
    summary: "Publishes a template version (YAML body). Admins only.",
    auth: true,
    body: "yaml",
    bodyRequired: true,
    success: 201,
    errors: [400, 401, 403, 413, 422],
    response: S.TEMPLATE_PUBLISHED,
    run: async (s, c) => {
      const out = await s.publishTemplate(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        c.body as string,
      );
      return out.created ? out.body : new Status(200, out.body);
    },
  },
  {
    method: "GET",
    path: "/teams/{team}/templates",
    summary: "Lists the team's templates.",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.TEMPLATE_LIST,
    run: (s, c) => s.listTemplates(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/templates/{name}",
    summary: "A template's versions; with `?version=N`, that version with its YAML.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.TEMPLATE,
    query: [{ name: "version", schema: { type: "string", pattern: "^[1-9][0-9]{0,9}$" } }],
    run: (s, c) =>
      s.getTemplate(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        versionQuery(c.query.version),
      ),
  },
  {
    method: "POST",
    path: "/teams/{team}/templates/{name}/default",
    summary:
      "Makes a template (its newest version, or `version`) the team's default for new members. Admins only.",
    auth: true,
    body: {
      type: "object",
      properties: { version: { type: "integer", minimum: 1, maximum: MAX_TEMPLATE_VERSION } },
      additionalProperties: false,
    },
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.DEFAULT_TEMPLATE,
    run: (s, c) =>
      s.setDefault(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        (c.body as { version?: number })?.version,
      ),
  },
  {
    method: "PUT",
    path: "/teams/{team}/credentials/{name}",
    summary:
      "Registers (or replaces) a team's credential for a provider: `provider` and that provider's credential fields (without `provider`: the aws role, as before). Secret fields are kept, never answered. Admins only.",
    auth: true,
    body: credentialBody(),
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403, 422, 501],
    response: S.CREDENTIAL,
    run: (s, c) =>
      s.putCredential(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        c.body as Readonly<Record<string, unknown>>,
      ),
  },
  {
    method: "DELETE",
    path: "/teams/{team}/credentials/{name}",
    summary: "Removes a team's credential and its secret fields. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.CREDENTIAL_REMOVED,
    run: (s, c) => s.removeCredential(c.caller, c.params.team as string, c.params.name as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/policy",
    summary:
      "Which providers the team's templates may use, and what admins and members may use on this deployment.",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.POLICY,
    run: (s, c) => s.getPolicy(c.caller, c.params.team as string),
  },
  {
    method: "PUT",
    path: "/teams/{team}/policy",
    summary:
      "Sets which providers the team's templates may use; stacks using another are refused with 403. Admins only.",
    auth: true,
    body: policySchema,
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.POLICY,
    run: (s, c) =>
      s.putPolicy(
        c.caller,
        c.params.team as string,
        c.body as { providers: readonly string[]; on_member_left?: string },
      ),
  },
  {
    method: "PUT",
    path: "/teams/{team}/members/{member}",
    summary: "Sets a member's non-secret data, used for $koding.userdata.*. The member or an admin.",
    auth: true,
    body: stringMap,
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.MEMBER,
    run: (s, c) =>
      s.putMember(
        c.caller,
        c.params.team as string,
        c.params.member as string,
        c.body as Record<string, string>,
      ),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks",
    summary: "Creates a stack and starts provisioning it. An Idempotency-Key header makes retries safe.",
    auth: true,
    body: createStackSchema,
    bodyRequired: true,
    success: 202,
    errors: [400, 401, 403, 404, 409, 413, 422],
    response: S.STACK_CREATED,
    run: (s, c) => {
      const key = c.headers["idempotency-key"];
      if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
        throw badRequest("Idempotency-Key: expected 1 to 255 visible ASCII characters");
      }
      return s.createStack(c.caller, c.params.team as string, c.body as CreateStackRequest, key);
    },
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks",
    summary:
      "Lists stacks: all of the team's for an admin, a member's own otherwise; `?member=`, `?status=` and `?name=` narrow it; `?outdated=true`: only those on a version older than their template's newest (each with `latest`).",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.STACK_LIST,
    query: [
      {
        name: "outdated",
        schema: {
          type: "string",
          pattern: "^(true|false)$",
          description: "Only stacks behind their template.",
        },
      },
    ],
    run: async (s, c) => {
      const outdated = outdatedParam(c.query.outdated);
      const stacks = await s.listStacks(c.caller, c.params.team as string, stackFilterOf(c.query));
      return outdated ? s.rollouts.outdated(c.params.team as string, stacks) : stacks;
    },
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}",
    summary: "A stack's status: servers, artifacts, hooks, and whether its template has a newer version.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.STACK_STATUS,
    run: (s, c) => s.getStack(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/rerun",
    summary: "Runs a stack again: creates what is missing.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: S.STARTED,
    run: (s, c) => s.rerun(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}/changes",
    summary:
      "The change set of updating a stack to a template version (`?version=N`, default the newest): per server keep, create, replace or delete, with the reasons, and which hooks run.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404, 409, 422],
    response: S.CHANGE_SET,
    run: (s, c) =>
      s.changes(c.caller, c.params.team as string, c.params.id as string, versionQuery(c.query.version)),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/update",
    summary:
      "Updates a stack to a template version (default the newest): kept servers are untouched, changed ones replaced, removed ones destroyed. Answers with the change set.",
    auth: true,
    body: {
      type: "object",
      properties: { version: { type: "integer", minimum: 1, maximum: MAX_TEMPLATE_VERSION } },
      additionalProperties: false,
    },
    success: 202,
    errors: [400, 401, 403, 404, 409, 413, 422],
    response: S.UPDATE_STARTED,
    run: (s, c) =>
      s.update(
        c.caller,
        c.params.team as string,
        c.params.id as string,
        (c.body ?? {}) as { version?: number },
      ),
  },
  {
    method: "DELETE",
    path: "/teams/{team}/stacks/{id}",
    summary: "Destroys a stack's servers.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: S.STARTED,
    run: (s, c) => s.destroy(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/stop",
    summary:
      "Stops a stack's servers (their disks, Ids and private addresses kept); 409 while a run holds the stack or when a server's provider cannot stop it.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: S.STARTED,
    run: (s, c) => s.power(c.caller, c.params.team as string, c.params.id as string, "stop"),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/start",
    summary: "Starts a stopped stack's servers again and runs their on_start.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: S.STARTED,
    run: (s, c) => s.power(c.caller, c.params.team as string, c.params.id as string, "start"),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/extend",
    summary: 'Pushes back the stack\'s ttl and auto_stop (those it has) by a duration: `{"by":"2h"}`.',
    auth: true,
    body: {
      type: "object",
      properties: {
        by: {
          type: "string",
          pattern: "^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$",
          maxLength: 32,
          description: "How much later: 30m, 2h, 7d, 1d12h.",
        },
      },
      required: ["by"],
      additionalProperties: false,
    },
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403, 404, 409],
    response: S.EXTENDED,
    run: (s, c) =>
      s.extend(c.caller, c.params.team as string, c.params.id as string, c.body as { by: string }),
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}/events",
    summary: "What happened to a stack, in order.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.STACK_EVENTS,
    run: (s, c) => s.events(c.caller, c.params.team as string, c.params.id as string),
  },
  ...ROLLOUT_ROUTES,
  ...LOGS_ROUTES,
  ...CONSOLE_ROUTES,
  {
    method: "POST",
    path: "/events",
    summary:
      "Delivers an EventBridge-shaped `Team Member Signed Up` or `Team Member Left` event (locally; in AWS the bus calls the signup function).",
    auth: true,
    body: signupSchema,
    bodyRequired: true,
    success: 202,
    errors: [400, 401, 403, 404, 409, 422],
    response: S.EVENT_DELIVERED,
    run: (s, c) => {
      const event = c.body as InboundEvent;
      if (c.caller.team !== event.detail.team || !c.caller.admin) {
        throw forbidden(`delivering events for team \`${event.detail.team}\` needs that team's admin token`);
      }
      return s.deliver(event);
    },
  },
  {
    method: "POST",
    path: "/callbacks/ready/{team}/{stackId}/{server}/{attempt}",
    summary:
      "An aws server reports that its user_data has finished (called by the instance; no token: the URL's `sig`, or the X-Teamstack-Signature header, signs it, and it is accepted once).",
    auth: false,
    body: readySchema,
    bodyRequired: true,
    success: 200,
    errors: [400, 403, 404, 409, 410],
    response: S.READY,
    run: (s, c) => {
      const attempt = c.params.attempt as string;
      if (!/^[1-9]\d{0,8}$/.test(attempt))
        throw badRequest(`attempt \`${attempt}\`: expected a whole number`);
      const signature = c.query.sig ?? c.headers[CALLBACK_SIGNATURE_HEADER];
      if (!signature) throw forbidden("the callback is not signed: expected ?sig=SIGNATURE");
      return s.readyCallback(
        {
          team: c.params.team as string,
          stackId: c.params.stackId as string,
          server: c.params.server as string,
          attempt: Number(attempt),
        },
        signature,
        c.body as ReadyReport,
      );
    },
  },
];
