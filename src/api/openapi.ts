import type { Schema } from "./json-schema.ts";
import { NAME_PATTERN, ROUTES, type Route } from "./routes.ts";
import * as S from "./schemas.ts";
import { ROUTE_EXAMPLES } from "./schemas-examples.ts";

/**
 * The OpenAPI 3.1 document at GET /openapi.json, built from the route table (routes.ts) and the
 * schemas of the bodies (schemas.ts), with an example of each route's request and answer
 * (schemas-examples.ts). A test checks that every example fits its schema, and every API test's
 * answers are checked against this document (test/support/openapi-check.ts).
 */

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  304: "Not modified: If-None-Match matched the answer's ETag; no body",
  201: "Created",
  202: "Accepted: the execution has started",
  400: "Bad request: malformed JSON, unknown fields, bad parameters",
  401: "No valid bearer token",
  403: "Another team's resource, or an admin's work",
  404: "No such resource",
  405: "Method not allowed",
  409: "Conflict: the stack is running, or an idempotency key was reused for another request",
  413: "Body too large",
  429: "Too many requests: throttled by API Gateway (the deployed API), or too many live streams of one member (teamstack serve); try again later",
  422: "Invalid template or unusable request, with every problem",
  410: "Gone: reported already, or by an attempt that was replaced",
  501: "Not available in this deployment",
  500: "Internal error: a bug; the body's requestId is what to report",
  503: "The store cannot serve requests right now; try again (Retry-After)",
};

/** Other success statuses a route answers with, besides its `success`, and when. */
const ALSO_SUCCEEDS: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  "PUT /teams/{team}/templates/{name}": { 200: "The same YAML as the newest version: nothing added" },
  "POST /teams/{team}/templates/{name}/rollout": {
    200: "The rollout of that version with those settings is running already: it, unchanged",
  },
};

/** The route's key in {@link ROUTE_EXAMPLES} and {@link ALSO_SUCCEEDS}: `METHOD /path/{param}`. */
export const routeKey = (r: Pick<Route, "method" | "path">): string => `${r.method} ${r.path}`;

/**
 * A Schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect). A schema that is one of `named` (the
 * same object) becomes a `$ref` to it in `components/schemas`, unless it is `root` itself.
 */
function toJsonSchema(
  s: Schema,
  named: ReadonlyMap<Schema, string> = new Map(),
  root?: Schema,
): Record<string, unknown> {
  const name = s === root ? undefined : named.get(s);
  if (name !== undefined) return { $ref: `#/components/schemas/${name}` };
  const sub = (x: Schema) => toJsonSchema(x, named);
  const out: Record<string, unknown> = {};
  if (s.description) out.description = s.description;
  if ("oneOf" in s && s.oneOf) return { ...out, oneOf: s.oneOf.map(sub) };
  switch (s.type) {
    case undefined:
      return out;
    case "string":
      return {
        ...out,
        type: "string",
        ...(s.enum ? { enum: [...s.enum] } : {}),
        ...(s.format ? { format: s.format } : {}),
        ...(s.maxLength ? { maxLength: s.maxLength } : {}),
        ...(s.pattern ? { pattern: s.pattern } : {}),
      };
    case "integer":
      return {
        ...out,
        type: "integer",
        ...(s.minimum !== undefined ? { minimum: s.minimum } : {}),
        ...(s.maximum !== undefined ? { maximum: s.maximum } : {}),
      };
    case "boolean":
      return { ...out, type: "boolean" };
    case "null":
      return { ...out, type: "null" };
    case "array":
      return {
        ...out,
        type: "array",
        items: sub(s.items),
        ...(s.maxItems ? { maxItems: s.maxItems } : {}),
      };
    case "object": {
      const props = s.properties
        ? Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, sub(v)]))
        : undefined;
      return {
        ...out,
        type: "object",
        ...(props ? { properties: props } : {}),
        ...(s.required ? { required: [...s.required] } : {}),
        // Closed unless it says what other fields may hold, as checkSchema reads it.
        additionalProperties: s.additionalProperties ? sub(s.additionalProperties) : false,
        ...(s.maxProperties ? { maxProperties: s.maxProperties } : {}),
        ...(s.propertyNames
          ? {
              propertyNames: {
                maxLength: s.propertyNames.maxLength,
                ...(s.propertyNames.pattern ? { pattern: s.propertyNames.pattern } : {}),
              },
            }
          : {}),
      };
    }
  }
}

/** Schemas published under a name in `components/schemas` (and referred to by it). */
const NAMED: ReadonlyMap<Schema, string> = new Map<Schema, string>([
  [S.ERROR, "Error"],
  [S.GATEWAY_MESSAGE, "GatewayMessage"],
  [S.STACK_STATUS, "StackStatus"],
  [S.STACK_LIST, "StackList"],
  [S.STACK_CREATED, "StackCreated"],
  [S.STARTED, "RunStarted"],
  [S.CHANGE_SET, "ChangeSet"],
  [S.STACK_EVENTS, "StackEvents"],
  [S.TEMPLATE_LIST, "TemplateList"],
  [S.TEMPLATE_VERSIONS, "TemplateVersions"],
  [S.TEMPLATE_TEXT, "TemplateText"],
  [S.POLICY, "Policy"],
  [S.ROLLOUT, "Rollout"],
  [S.ROLLOUT_SUMMARY, "RolloutSummary"],
  [S.MEMBER_LEFT, "MemberLeft"],
  [S.SERVER_LOG, "ServerLog"],
  [S.HOOK_LOG, "HookLog"],
  [S.EXEC_RESULT, "ExecResult"],
  [S.WHOAMI, "Whoami"],
  [S.MEMBER_LIST, "MemberList"],
  [S.CREDENTIAL_LIST, "CredentialList"],
  [S.TEAM_EVENTS, "TeamEvents"],
  [S.SESSION, "Session"],
  [S.CONSOLE_CONFIG, "ConsoleConfig"],
  [S.STREAM_STACK, "StreamStack"],
  [S.STREAM_ROLLOUT, "StreamRollout"],
]);

/** Path parameters' schema: what the router accepts (a name). */
const PATH_PARAM = { type: "string", pattern: NAME_PATTERN } as const;

const jsonContent = (schema: unknown, example?: unknown) => ({
  "application/json": { schema, ...(example !== undefined ? { example } : {}) },
});

/** The statuses a route answers with, each with its description and body. */
function responsesOf(r: Route): Record<string, unknown> {
  const example = ROUTE_EXAMPLES[routeKey(r)];
  const body = toJsonSchema(r.response, NAMED);
  const responses: Record<string, unknown> = {
    [r.success]: {
      description: STATUS_TEXT[r.success] ?? "OK",
      content: r.eventStream
        ? { "text/event-stream": { schema: body, ...(example ? { example: example.response } : {}) } }
        : jsonContent(body, example?.response),
    },
  };
  for (const [status, description] of Object.entries(ALSO_SUCCEEDS[routeKey(r)] ?? {})) {
    responses[status] = { description, content: jsonContent(body) };
  }
  if (r.method === "GET" && !r.eventStream) {
    responses[304] = { description: STATUS_TEXT[304] };
  }
  // What the router itself may answer on any route: a bad path parameter or body (400), no token
  // (401), a body too large (413), another method (405), a bug (500), the store down (503).
  const routerErrors = [
    ...(r.path.includes("{") || r.body !== undefined ? [400] : []),
    ...(r.auth ? [401] : []),
    ...(r.body !== undefined ? [413] : []),
    405,
    500,
    503,
  ];
  const error = { $ref: "#/components/schemas/Error" };
  const gateway = { $ref: "#/components/schemas/GatewayMessage" };
  for (const e of [...new Set([...r.errors, ...routerErrors])].sort((a, b) => a - b)) {
    responses[e] = {
      description: STATUS_TEXT[e] ?? "Error",
      // API Gateway's JWT authorizer answers 401 itself, with its own body.
      content: jsonContent((e === 401 && r.auth) || e === 429 ? { oneOf: [error, gateway] } : error),
    };
  }
  responses[429] ??= { description: STATUS_TEXT[429], content: jsonContent(gateway) };
  return responses;
}

/** The OpenAPI 3.1 document of the HTTP API, built from the routes the handler serves. */
export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params: Record<string, unknown>[] = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: PATH_PARAM,
    }));
    if (r.path === "/teams/{team}/stacks" && r.method === "POST") {
      params.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" },
      });
    }
    for (const q of r.query ?? []) {
      params.push({ name: q.name, in: "query", required: false, schema: toJsonSchema(q.schema) });
    }
    const example = ROUTE_EXAMPLES[routeKey(r)];
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, "").replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      ...(params.length > 0 ? { parameters: params } : {}),
      responses: responsesOf(r),
      ...(r.auth ? {} : { security: [] }),
    };
    if (r.body === "yaml") {
      op.requestBody = {
        required: true,
        content: {
          "application/yaml": {
            schema: { type: "string" },
            ...(example?.request !== undefined ? { example: example.request } : {}),
          },
        },
      };
    } else if (r.body !== undefined) {
      op.requestBody = {
        required: r.bodyRequired === true,
        content: jsonContent(toJsonSchema(r.body), example?.request),
      };
    }
    paths[r.path] = { ...(paths[r.path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "teamstack",
      version: "0.1.0",
      description:
        "Give every member of a team their own copy of the team's environment. Every GET also answers HEAD, without the body. Keys `__proto__`, `constructor` and `prototype` are refused (400) anywhere in a JSON body. Answers outside the routes below, each with the Error body: 404 for a path that is none of them, 405 for a method a path does not take, and on any path 401 for an Authorization header that is not a valid bearer token and 413 for a body larger than 1.0625 MiB. OPTIONS on a path of the routes below (a CORS preflight) answers 204 with no body and an Allow header, except the event stream's (405). Every successful JSON GET carries a strong ETag; a request whose If-None-Match names it gets 304 with no body. `teamstack serve` also serves the web console's files at `/` and `/assets/*`, which are not part of this API.",
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: Object.fromEntries(
        [...NAMED].map(([schema, name]) => [name, toJsonSchema(schema, NAMED, schema)]),
      ),
    },
    paths,
  };
}
