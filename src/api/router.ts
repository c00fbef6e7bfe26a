import { createHash, randomUUID } from "node:crypto";
import {
  ItemTooLargeError,
  StoreThrottledError,
  StoreUnavailableError,
  TableNotFoundError,
} from "../store/errors.ts";
import { ApiError, badRequest, notFound, unauthorized } from "./errors.ts";
import { checkSchema, unsafeJson } from "./json-schema.ts";
import { type HostPath, hideHostDetails } from "./redact.ts";
import { NAME_PATTERN, ROUTES, type Route, Status } from "./routes.ts";
import type { Caller, StackService } from "./service.ts";

/**
 * The HTTP API's router: finds a request's route in the table (routes.ts), checks who calls and
 * what they send, runs the route and turns every outcome into an answer. It serves API Gateway in
 * AWS and `teamstack serve` locally; framework-free: the Lambda wraps it in middy, the local server
 * in node:http.
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

/** The caller of a route without auth: a member of no team, so every team check refuses it. */
const ANONYMOUS: Caller = { team: "", member: "", admin: false };

const NAME = new RegExp(NAME_PATTERN);

/** The routes the router serves: all but the event streams, which only `teamstack serve` answers. */
const SERVED: readonly Route[] = ROUTES.filter((r) => r.eventStream !== true);

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
  const isGet = req.method === "GET" || req.method === "HEAD";
  const answered = await answer(req.method === "HEAD" ? { ...req, method: "GET" } : req, options);
  const out = isGet ? withEtag(answered, req.headers["if-none-match"]) : answered;
  return req.method === "HEAD" ? { ...out, body: "" } : out;
}

/** A strong entity tag of a JSON body: its sha256, so equal bodies get equal tags wherever served. */
export function etagOf(body: string): string {
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
}

/**
 * Tags a successful JSON GET answer with a strong ETag, and answers 304 without a body when the
 * request's If-None-Match names it (or is `*`). If-None-Match compares weakly (RFC 9110 13.1.2):
 * a `W/` tag matches its strong twin. The console polls this way where nothing streams.
 */
function withEtag(out: ApiResponse, ifNoneMatch: string | undefined): ApiResponse {
  if (out.status !== 200 || !out.headers["content-type"]?.startsWith("application/json")) return out;
  const etag = etagOf(out.body);
  if (ifNoneMatch !== undefined) {
    const tags = ifNoneMatch.split(",").map((t) => t.trim().replace(/^W\//, ""));
    if (tags.includes("*") || tags.includes(etag)) {
      const { "content-type": _type, ...headers } = out.headers;
      return { status: 304, headers: { ...headers, etag }, body: "" };
    }
  }
  return { ...out, headers: { ...out.headers, etag } };
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
    const candidates = SERVED.map((r) => ({ r, params: match(r, path) })).filter(
      (x) => x.params !== undefined,
    );
    if (candidates.length === 0) throw notFound(`no such resource: ${req.method} ${path.slice(0, 200)}`);
    // A CORS preflight (API Gateway adds the deployment's CORS headers to this answer).
    if (req.method === "OPTIONS") {
      const methods = [...new Set(candidates.map((x) => x.r.method))];
      const allow = [...(methods.includes("GET") ? [...methods, "HEAD"] : methods), "OPTIONS"].join(", ");
      return { status: 204, headers: { allow, "cache-control": "no-store" }, body: "" };
    }
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
