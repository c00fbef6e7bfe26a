import { randomUUID } from "node:crypto";
import { CALLBACK_SIGNATURE_HEADER } from "../adapters/callback-signing.ts";
import { PROVIDERS } from "../providers/registry.ts";
import {
  ItemTooLargeError,
  StoreThrottledError,
  StoreUnavailableError,
  TableNotFoundError,
} from "../store/errors.ts";
import { MAX_TEMPLATE_VERSION } from "../store/keys.ts";
import { ApiError, badRequest, forbidden, notFound, unauthorized } from "./errors.ts";
import { type HostPath, hideHostDetails } from "./redact.ts";
import type { Caller, CreateStackRequest, ReadyReport, SignupEvent, StackService } from "./service.ts";

/**
 * The HTTP API: one route table that serves requests (API Gateway in AWS, `teamstack serve`
 * locally) and describes them (GET /openapi.json). Framework-free: the Lambda wraps it in middy,
 * the local server in node:http.
 */

export interface ApiRequest {
  readonly method: string;
  /** The path; a query string on it is split off into `query`. */
  readonly path: string;
  /** Query parameters (API Gateway's `queryStringParameters`); also read from a `?` on `path`. */
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | undefined;
  /** Claims of a verified token (API Gateway's JWT authorizer, or the local server); none: 401. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Claim names the API reads; configurable for an identity provider that names them otherwise. */
export interface ClaimNames {
  readonly team: string;
  readonly member: string;
  readonly admin: string;
}
export const DEFAULT_CLAIMS: ClaimNames = { team: "teamstack:team", member: "sub", admin: "teamstack:admin" };

/** The largest body accepted: a template may be 1 MB. */
export const MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024;

/** A JSON Schema subset: what bodies need, validated here and published in the OpenAPI document. */
export type Schema =
  | {
      readonly type: "string";
      readonly maxLength?: number;
      readonly pattern?: string;
      readonly description?: string;
    }
  | {
      readonly type: "integer";
      readonly minimum?: number;
      readonly maximum?: number;
      readonly description?: string;
    }
  | { readonly type: "boolean"; readonly description?: string }
  | {
      readonly type: "array";
      readonly items: Schema;
      readonly maxItems?: number;
      readonly description?: string;
    }
  | {
      readonly type: "object";
      readonly properties?: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      readonly additionalProperties?: false | Schema;
      readonly maxProperties?: number;
      /** What every key must be (JSON Schema `propertyNames`). */
      readonly propertyNames?: { readonly maxLength: number; readonly pattern?: string };
      readonly description?: string;
    }
  | { readonly oneOf: readonly Schema[]; readonly description?: string }
  | { readonly description?: string; readonly type?: undefined; readonly oneOf?: undefined };

const NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$";
const PROVIDER_PATTERN = `^(${PROVIDERS.names.join("|")})$`;
const NAME = new RegExp(NAME_PATTERN);
const stringMap: Schema = {
  type: "object",
  additionalProperties: { type: "string", maxLength: 2048 },
  maxProperties: 100,
  propertyNames: { maxLength: 128 },
  description: "Names to string values.",
};

/** Keys refused anywhere in a JSON body: they mean something to JavaScript objects. */
export const FORBIDDEN_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];
/** The deepest nesting a JSON body may have (every body is a shallow object). */
export const MAX_JSON_DEPTH = 32;

/** Checks a value against a schema; returns the first mismatch as "where: what", or undefined. */
export function checkSchema(value: unknown, schema: Schema, where = "body"): string | undefined {
  if ("oneOf" in schema && schema.oneOf) {
    const fits = schema.oneOf.some((s) => checkSchema(value, s, where) === undefined);
    return fits ? undefined : `${where}: expected ${schema.oneOf.map(describeSchema).join(" or ")}`;
  }
  switch (schema.type) {
    case undefined:
      return undefined;
    case "string":
      if (typeof value !== "string") return `${where}: expected a string`;
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        return `${where}: longer than ${schema.maxLength} characters`;
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
        return `${where}: \`${value.slice(0, 80)}\` does not match ${schema.pattern}`;
      return undefined;
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value)) return `${where}: expected a whole number`;
      if (schema.minimum !== undefined && value < schema.minimum)
        return `${where}: must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum)
        return `${where}: must be at most ${schema.maximum}`;
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : `${where}: expected true or false`;
    case "array": {
      if (!Array.isArray(value)) return `${where}: expected a list`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return `${where}: more than ${schema.maxItems} items`;
      for (let i = 0; i < value.length; i++) {
        const e = checkSchema(value[i], schema.items, `${where}[${i}]`);
        if (e) return e;
      }
      return undefined;
    }
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        return `${where}: expected a JSON object`;
      const entries = Object.entries(value);
      if (schema.maxProperties !== undefined && entries.length > schema.maxProperties)
        return `${where}: more than ${schema.maxProperties} fields`;
      for (const r of schema.required ?? [])
        if (!Object.hasOwn(value, r)) return `${where}: missing field \`${r}\``;
      if (schema.propertyNames) {
        const { maxLength, pattern } = schema.propertyNames;
        for (const [k] of entries) {
          if (k.length > maxLength)
            return `${where}: field name \`${k.slice(0, 40)}...\` is longer than ${maxLength} characters`;
          if (pattern !== undefined && !new RegExp(pattern).test(k))
            return `${where}: field name \`${k.slice(0, 80)}\` does not match ${pattern}`;
        }
      }
      for (const [k, v] of entries) {
        const known =
          schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
        const s = known ?? (schema.additionalProperties === false ? undefined : schema.additionalProperties);
        if (!s) {
          const expected = Object.keys(schema.properties ?? {});
          return `${where}: unknown field \`${k}\`${expected.length > 0 ? `; expected ${expected.join(", ")}` : ""}`;
        }
        const e = checkSchema(v, s, `${where}.${k}`);
        if (e) return e;
      }
      return undefined;
    }
  }
}

function describeSchema(s: Schema): string {
  if ("oneOf" in s && s.oneOf) return s.oneOf.map(describeSchema).join(" or ");
  return s.type === "object" ? "an object" : s.type === "array" ? "a list" : (s.type ?? "anything");
}

interface Context {
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** {@link ANONYMOUS} on a route without auth. */
  readonly caller: Caller;
  readonly headers: ApiRequest["headers"];
  readonly query: Readonly<Record<string, string | undefined>>;
}

/** The caller of a route without auth: a member of no team, so every team check refuses it. */
const ANONYMOUS: Caller = { team: "", member: "", admin: false };

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
  run(service: StackService, ctx: Context): Promise<unknown>;
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

const signupSchema: Schema = {
  type: "object",
  properties: {
    version: { type: "string", maxLength: 16 },
    id: { type: "string", maxLength: 256, pattern: "^\\S+$" },
    source: { type: "string", pattern: "^teamstack\\.teams$" },
    "detail-type": { type: "string", pattern: "^Team Member Signed Up$" },
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
  },
  required: ["providers"],
  additionalProperties: false,
};

const providerList: Schema = { type: "array", items: { type: "string", pattern: PROVIDER_PATTERN } };
const policyView: Schema = {
  type: "object",
  properties: {
    team: { type: "string" },
    providers: {
      ...providerList,
      description: "What the team allows (the default: every provider offered).",
    },
    default: { type: "boolean", description: "True when no admin has set a policy." },
    updatedAt: { type: "string" },
    updatedBy: { type: "string" },
    offered: { ...providerList, description: "What this deployment can create." },
    usable: {
      type: "object",
      properties: { admins: providerList, members: providerList },
      description: "What admins and members may use here: allowed, offered, and offered to their role.",
    },
  },
};

const started: Schema = {
  type: "object",
  properties: { stackId: { type: "string" }, executionName: { type: "string" } },
  description: "The stack and the execution started for it.",
};
const anyObject: Schema = { type: "object", description: "See the README for the fields." };
const anyList: Schema = { type: "array", items: { type: "object" } };

export const ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/openapi.json",
    summary: "This API's OpenAPI 3.1 document.",
    auth: false,
    success: 200,
    errors: [],
    response: anyObject,
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
    response: {
      type: "object",
      properties: { name: { type: "string" }, version: { type: "integer" }, hash: { type: "string" } },
    },
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
    response: anyList,
    run: (s, c) => s.listTemplates(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/templates/{name}",
    summary: "A template's versions.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: anyObject,
    run: (s, c) => s.getTemplate(c.caller, c.params.team as string, c.params.name as string),
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
    response: { type: "object", properties: { name: { type: "string" }, version: { type: "integer" } } },
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
      "Registers the IAM role in the team's account that the aws provider assumes (with its ExternalId). Admins only.",
    auth: true,
    body: {
      type: "object",
      properties: {
        roleArn: {
          type: "string",
          pattern: "^arn:aws[a-z-]*:iam::\\d{12}:role/(?:[\\w+=,.@-]+/)*teamstack-[\\w+=,.@-]+$",
          description: "The role's ARN; teamstack may assume only roles named teamstack-*.",
        },
        externalId: {
          type: "string",
          pattern: "^[\\w+=,.@:/-]{16,1224}$",
          description: "The ExternalId its trust policy requires.",
        },
        region: {
          type: "string",
          pattern: "^[a-z]{2}(-[a-z]+)+-\\d$",
          description: "Where servers go by default.",
        },
        instanceProfile: {
          type: "string",
          maxLength: 2048,
          description: "Instance profile for SSM (run_script).",
        },
      },
      required: ["roleArn", "externalId", "region"],
      additionalProperties: false,
    },
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403],
    response: {
      type: "object",
      properties: {
        name: { type: "string" },
        kind: { type: "string" },
        roleArn: { type: "string" },
        region: { type: "string" },
      },
    },
    run: (s, c) =>
      s.putCredential(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        c.body as { roleArn: string; externalId: string; region: string; instanceProfile?: string },
      ),
  },
  {
    method: "GET",
    path: "/teams/{team}/policy",
    summary:
      "Which providers the team's templates may use, and what admins and members may use on this deployment.",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: policyView,
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
    response: policyView,
    run: (s, c) => s.putPolicy(c.caller, c.params.team as string, c.body as { providers: readonly string[] }),
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
    response: anyObject,
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
    response: started,
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
    summary: "Lists stacks: all of the team's for an admin, a member's own otherwise.",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: anyList,
    run: (s, c) => s.listStacks(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}",
    summary: "A stack's status: servers, artifacts, hooks, and whether its template has a newer version.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: anyObject,
    run: (s, c) => s.getStack(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/rerun",
    summary: "Runs a stack again: creates what is missing.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: started,
    run: (s, c) => s.rerun(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "DELETE",
    path: "/teams/{team}/stacks/{id}",
    summary: "Destroys a stack's servers.",
    auth: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: started,
    run: (s, c) => s.destroy(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}/events",
    summary: "What happened to a stack, in order.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: anyList,
    run: (s, c) => s.events(c.caller, c.params.team as string, c.params.id as string),
  },
  {
    method: "POST",
    path: "/events",
    summary:
      "Delivers an EventBridge-shaped `Team Member Signed Up` event (locally; in AWS the bus calls the signup function).",
    auth: true,
    body: signupSchema,
    bodyRequired: true,
    success: 202,
    errors: [400, 401, 403, 404, 409, 422],
    response: started,
    run: (s, c) => {
      const event = c.body as SignupEvent;
      if (c.caller.team !== event.detail.team || !c.caller.admin) {
        throw forbidden(`delivering events for team \`${event.detail.team}\` needs that team's admin token`);
      }
      return s.signup(event);
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
    response: {
      type: "object",
      properties: { server: { type: "string" }, ready: { type: "boolean" } },
    },
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

/** A non-default success status for a route's answer. */
class Status {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    this.status = status;
    this.body = body;
  }
}

function match(route: Route, path: string): Record<string, string> | undefined {
  const want = route.path.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith("{")) {
      let value: string;
      try {
        value = decodeURIComponent(g);
      } catch {
        return undefined;
      }
      params[w.slice(1, -1)] = value;
    } else if (w !== g) return undefined;
  }
  return params;
}

function json(status: number, body: unknown, extra: Record<string, string> = {}): ApiResponse {
  return {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...extra },
    body: body === undefined ? "" : JSON.stringify(body),
  };
}

function errorBody(e: ApiError): Record<string, unknown> {
  return { error: e.code, message: e.message, ...(e.problems ? { problems: e.problems } : {}) };
}

function callerOf(claims: ApiRequest["claims"], names: ClaimNames): Caller {
  if (!claims) throw unauthorized("a bearer token is required (Authorization: Bearer TOKEN)");
  const team = claims[names.team];
  const member = claims[names.member];
  const admin = claims[names.admin];
  if (typeof team !== "string" || typeof member !== "string") {
    throw unauthorized(`the token has no \`${names.team}\` and \`${names.member}\` claims`);
  }
  return { team, member, admin: admin === true || admin === "true" };
}

export interface ApiOptions {
  readonly service: StackService;
  readonly claims?: ClaimNames;
  /** The OpenAPI document to serve at /openapi.json. */
  readonly openapi: () => unknown;
  /**
   * Reports an unexpected error (a 500, or a store that does not answer) with its stack, for the
   * operator's log, under the request id the client is given.
   */
  readonly onError?: (error: unknown, requestId: string) => void;
  /** The request's id (Lambda's), quoted in an answer to a failure; a new one when absent. */
  readonly requestId?: string;
  /** Host paths (the state directory) that answers show by a name instead. */
  readonly hostPaths?: readonly HostPath[];
}

/**
 * Serves one request. Never throws: every failure is an answer with a JSON error body. HEAD is
 * answered as GET, without the body.
 */
export async function handleRequest(req: ApiRequest, options: ApiOptions): Promise<ApiResponse> {
  const out = await answer(req.method === "HEAD" ? { ...req, method: "GET" } : req, options);
  return req.method === "HEAD" ? { ...out, body: "" } : out;
}

async function answer(req: ApiRequest, options: ApiOptions): Promise<ApiResponse> {
  const hide = (value: unknown) => hideHostDetails(value, options.hostPaths ?? []);
  try {
    const [rawPath = "/", rawQuery] = req.path.split("?", 2) as [string, string | undefined];
    const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, "") : rawPath;
    const query: Record<string, string | undefined> = {
      ...(rawQuery !== undefined ? Object.fromEntries(new URLSearchParams(rawQuery)) : {}),
      ...req.query,
    };
    const candidates = ROUTES.map((r) => ({ r, params: match(r, path) })).filter(
      (x) => x.params !== undefined,
    );
    if (candidates.length === 0) throw notFound(`no such resource: ${req.method} ${path.slice(0, 200)}`);
    const found = candidates.find((x) => x.r.method === req.method);
    if (!found) {
      const methods = candidates.map((x) => x.r.method);
      const allow = (methods.includes("GET") ? [...methods, "HEAD"] : methods).join(", ");
      const e = new ApiError(405, "MethodNotAllowed", `${req.method} is not allowed here; use ${allow}`);
      return json(405, errorBody(e), { allow });
    }
    const { r: route, params } = found as { r: Route; params: Record<string, string> };
    if (route.path === "/openapi.json") return json(200, options.openapi());
    const caller = route.auth ? callerOf(req.claims, options.claims ?? DEFAULT_CLAIMS) : ANONYMOUS;
    for (const [k, v] of Object.entries(params)) {
      if (!NAME.test(v))
        throw badRequest(`${k} \`${v.slice(0, 80)}\`: expected letters, digits, _, . and - (at most 63)`);
    }
    const body = parseBody(req, route);
    const result = await route.run(options.service, { params, body, caller, headers: req.headers, query });
    if (result instanceof Status) return json(result.status, hide(result.body));
    return json(route.success, hide(result));
  } catch (error) {
    if (error instanceof ApiError) return json(error.status, hide(errorBody(error)));
    if (error instanceof ItemTooLargeError) {
      return json(413, { error: "PayloadTooLarge", message: `${hide(error.message)}; send less` });
    }
    const requestId = options.requestId ?? randomUUID();
    options.onError?.(error, requestId);
    // The store down, throttled or missing its table: the deployment's trouble, not a bug.
    if (
      error instanceof StoreUnavailableError ||
      error instanceof StoreThrottledError ||
      error instanceof TableNotFoundError
    ) {
      return json(
        503,
        {
          error: "ServiceUnavailable",
          message: `the store cannot serve requests right now; try again shortly, and if it lasts, tell the operator request id ${requestId}`,
          requestId,
        },
        { "retry-after": "5", "x-request-id": requestId },
      );
    }
    return json(
      500,
      {
        error: "InternalError",
        message: `internal error: a bug in teamstack; please report it with request id ${requestId} (the server's log has the details)`,
        requestId,
      },
      { "x-request-id": requestId },
    );
  }
}

/**
 * Where a parsed JSON body goes deeper than {@link MAX_JSON_DEPTH} or has a key of
 * {@link FORBIDDEN_KEYS}, as "where: what"; undefined when it does neither. Iterative, so a deep
 * body cannot exhaust the stack.
 */
export function unsafeJson(value: unknown, where = "body"): string | undefined {
  const todo: { value: unknown; where: string; depth: number }[] = [{ value, where, depth: 1 }];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    if (next.value === null || typeof next.value !== "object") continue;
    if (next.depth > MAX_JSON_DEPTH) return `${next.where}: nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (Array.isArray(next.value)) {
      next.value.forEach((v, i) => {
        todo.push({ value: v, where: `${(next as { where: string }).where}[${i}]`, depth: next.depth + 1 });
      });
      continue;
    }
    for (const [k, v] of Object.entries(next.value)) {
      if (FORBIDDEN_KEYS.includes(k)) {
        return `${next.where}: field \`${k}\` is not allowed (${FORBIDDEN_KEYS.join(", ")} are refused anywhere in a body)`;
      }
      todo.push({ value: v, where: `${next.where}.${k.slice(0, 64)}`, depth: next.depth + 1 });
    }
  }
  return undefined;
}

function parseBody(req: ApiRequest, route: Route): unknown {
  const text = req.body ?? "";
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ApiError(413, "PayloadTooLarge", `the body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  if (route.body === undefined) {
    if (text.trim() !== "") throw badRequest(`${route.method} ${route.path} takes no body`);
    return undefined;
  }
  if (route.body === "yaml") {
    if (text.trim() === "") throw badRequest("the body must be the template's YAML");
    return text;
  }
  if (text.trim() === "") {
    if (route.bodyRequired) throw badRequest("a JSON body is required");
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  const problem = unsafeJson(value) ?? checkSchema(value, route.body);
  if (problem) throw badRequest(problem);
  return value;
}
