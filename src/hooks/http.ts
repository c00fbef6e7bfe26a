import {
  request as httpRequest,
  type IncomingMessage,
  validateHeaderName,
  validateHeaderValue,
} from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import {
  checkHost,
  type EgressPolicy,
  type EgressTarget,
  guardedLookup,
  type Resolve,
  refusal,
} from "./egress.ts";
import { EgressRefusedError, HookRequestError, HookServiceError } from "./errors.ts";

/** Bytes of a service's answer read: enough for any error document, bounded for memory. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** How long one request may take, name resolution and answer body included. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Tries per call inside one task; after that the ASL's Retry takes over (HookRetryableError). */
export const MAX_ATTEMPTS = 3;
/** The longest wait a Retry-After (or rate-limit reset) can impose between two tries. */
export const MAX_RETRY_AFTER_MS = 60_000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 10_000;

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
export type Sleep = (ms: number) => Promise<void>;
/** What `new Headers()` takes: a record, pairs or a Headers. */
export type HeaderFields = ConstructorParameters<typeof Headers>[0];

/** What the hooks use to reach a service: injected so tests can drive time and the network. */
export interface HttpClient {
  /** Which addresses a template-steered request may connect to. */
  readonly egress: EgressPolicy;
  /** Finds a host name's addresses (the system resolver unless a test points it elsewhere). */
  readonly resolve: Resolve;
  /**
   * A stand-in for the network, for tests that must send nothing: when set, every call goes to it
   * and nothing connects (so there is no address for the egress policy to check). Never set in
   * a deployment.
   */
  readonly fetch?: FetchLike;
  readonly sleep: Sleep;
  readonly timeoutMs: number;
  /** A number in [0, 1) for the backoff jitter. */
  readonly random: () => number;
  /** Masks the secrets the hook has read; applied to every answer as soon as it is read. */
  readonly mask: (text: string) => string;
}

export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ServiceCall {
  /** The service's name in messages: `GitHub`, `Slack`, `X`, `webhook`. */
  readonly service: string;
  readonly method: "POST" | "PUT" | "DELETE";
  readonly url: string;
  /**
   * True when the URL is an endpoint the operator configured (TEAMSTACK_GITHUB_URL, ...) rather
   * than one a template named: trusted configuration, so the egress policy does not apply to it.
   * Every other call is checked.
   */
  readonly trusted?: boolean;
  /** What names the URL, in a refusal: `webhook URL`, `Slack webhook_url` (default `<service> URL`). */
  readonly urlName?: string;
  /** teamstack's own headers; computed again for every try when a function (a fresh signature). */
  readonly headers: HeaderFields | (() => HeaderFields);
  /** Headers a template set: they may not name a reserved header or one of teamstack's own. */
  readonly templateHeaders?: readonly (readonly [string, string])[];
  readonly body: string;
  /** Answers worth another try besides 429 and 5xx (Slack's `ratelimited`, GitHub's 403 rate limit). */
  readonly transient?: (reply: ServiceReply) => boolean;
}

export interface ServiceReply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  /** The answer's body, at most MAX_RESPONSE_BYTES of it, with the hook's secrets masked. */
  readonly text: string;
  readonly truncated: boolean;
  /** The body parsed as JSON (before masking), or undefined when it is not JSON. */
  readonly json: unknown;
  /** How many tries it took. */
  readonly attempts: number;
  /** The last answer was still a transient one when the tries ran out. */
  readonly transient: boolean;
}

/**
 * Sends one call to a service, retrying transient failures (429, 5xx, the call's own transient
 * answers, network errors, timeouts) up to MAX_ATTEMPTS times with exponential backoff and full
 * jitter, or the wait the service asks for (Retry-After, capped at MAX_RETRY_AFTER_MS). Returns the
 * last answer, whatever its status; redirects are returned, not followed.
 *
 * Unless the call is `trusted`, the egress policy decides where it may connect: an IP literal is
 * checked before connecting, a name at connect time on the addresses the socket is given, and a
 * redirect's target is checked too (it is never followed, but a redirect to a refused address is
 * reported as the refusal it is).
 * @throws HookRequestError when the URL or a header cannot be sent at all.
 * @throws EgressRefusedError (not retryable, never retried) when the policy refuses the address.
 * @throws HookServiceError (retryable) when no answer came back on any try.
 */
export async function send(client: HttpClient, call: ServiceCall): Promise<ServiceReply> {
  const url = checkUrl(call);
  const theirs = checkTemplateHeaders(call);
  let failure: unknown;
  for (let attempt = 1; ; attempt++) {
    const headers = { ...theirs, ...ownHeaders(call) };
    headers["user-agent"] ??= "teamstack-hooks";
    let reply: ServiceReply | undefined;
    try {
      reply = await sendOnce(client, call, url, headers, attempt);
    } catch (error) {
      if (error instanceof EgressRefusedError) throw error;
      failure = error;
    }
    const transient = reply ? isTransient(reply, call) : true;
    if (reply && !transient) {
      await checkRedirect(client, call, reply);
      return reply;
    }
    if (attempt >= MAX_ATTEMPTS) {
      if (reply) return { ...reply, transient: true };
      throw unreachable(call, failure, attempt, client.timeoutMs);
    }
    await client.sleep(retryDelayMs(reply, attempt, client.random, Date.now()));
  }
}

function checkUrl(call: ServiceCall): URL {
  const name = call.urlName ?? `${call.service} URL`;
  let url: URL;
  try {
    url = new URL(call.url);
  } catch (error) {
    throw new HookRequestError(`${name} \`${call.url}\` is not a URL`, { cause: error });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new HookRequestError(`${name} must be http(s); found \`${url.protocol}\``);
  }
  if (url.username !== "" || url.password !== "") {
    throw new HookRequestError(
      `${name} must not carry a user name or password (\`user:pass@\`); send a credential in a header instead`,
    );
  }
  return url;
}

/** Why a template may not set a header; a header the call sets itself is refused too. */
const RESERVED_HEADERS: Readonly<Record<string, string>> = {
  host: "it is always the URL's host",
  "content-length": "teamstack frames the body itself",
  "transfer-encoding": "teamstack frames the body itself",
  connection: "it is a hop-by-hop header teamstack manages",
  "keep-alive": "it is a hop-by-hop header teamstack manages",
  "proxy-connection": "it is a hop-by-hop header teamstack manages",
  upgrade: "it is a hop-by-hop header teamstack manages",
  te: "it is a hop-by-hop header teamstack manages",
  trailer: "it is a hop-by-hop header teamstack manages",
  expect: "it is a hop-by-hop header teamstack manages",
  "proxy-authorization": "hooks are not sent through a proxy",
};
const OWN_PREFIX = "x-teamstack-";

/**
 * The template's headers, lower-cased, once every name and value is valid and none is reserved.
 * @throws HookRequestError naming every header that cannot be sent, never repeating a value.
 */
function checkTemplateHeaders(call: ServiceCall): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  const given = call.templateHeaders ?? [];
  if (given.length === 0) return out;
  const ours = new Set(Object.keys(ownHeaders(call)));
  const problems: string[] = [];
  for (const [name, value] of given) {
    const shown = `\`${name.slice(0, 64)}\``;
    try {
      validateHeaderName(name);
    } catch {
      problems.push(`${shown} is not a valid header name`);
      continue;
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      // Node's own message may repeat the value, which may hold a credential: name the header only.
      problems.push(
        `the value of ${shown} is not a valid header value (a line break or a non-Latin-1 character?)`,
      );
      continue;
    }
    const lower = name.toLowerCase();
    const reason =
      RESERVED_HEADERS[lower] ??
      (lower.startsWith(OWN_PREFIX)
        ? "teamstack sets the X-Teamstack-* headers (delivery id, timestamp, signature)"
        : ours.has(lower)
          ? "teamstack sets it on this request"
          : undefined);
    if (reason) problems.push(`${shown} cannot be set by a template: ${reason}`);
    else out[lower] = value;
  }
  if (problems.length > 0) {
    throw new HookRequestError(`a ${call.service} request header cannot be sent: ${problems.join("; ")}`);
  }
  return out;
}

/** teamstack's headers for one try, lower-cased. */
function ownHeaders(call: ServiceCall): Record<string, string> {
  const fields = typeof call.headers === "function" ? call.headers() : call.headers;
  let headers: Headers;
  try {
    headers = new Headers(fields);
  } catch {
    // The message would repeat the value, which may hold a credential: name the header only.
    throw new HookRequestError(`a ${call.service} request header cannot be sent: ${badHeader(fields)}`);
  }
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of headers) out[name] = value;
  return out;
}

function badHeader(fields: HeaderFields): string {
  const pairs: [string, string][] =
    fields instanceof Headers
      ? [...fields.entries()]
      : Array.isArray(fields)
        ? fields.map(([k, v]) => [String(k), String(v)])
        : Object.entries(fields ?? {}).map(([k, v]) => [k, String(v)]);
  for (const [name, value] of pairs) {
    try {
      new Headers([[name, "x"]]);
    } catch {
      return `\`${name.slice(0, 64)}\` is not a valid header name`;
    }
    try {
      new Headers([[name, value]]);
    } catch {
      return `the value of \`${name}\` is not a valid header value (a line break or a non-Latin-1 character?)`;
    }
  }
  return "the headers are not valid";
}

interface RawReply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly truncated: boolean;
}

async function sendOnce(
  client: HttpClient,
  call: ServiceCall,
  url: URL,
  headers: Record<string, string>,
  attempt: number,
): Promise<ServiceReply> {
  const raw = client.fetch
    ? await viaFetch(client.fetch, client.timeoutMs, call, headers)
    : await viaNode(client, call, url, headers);
  const text = new TextDecoder().decode(raw.body);
  return {
    status: raw.status,
    statusText: raw.statusText,
    headers: raw.headers,
    text: client.mask(text),
    truncated: raw.truncated,
    json: parseJson(text),
    attempts: attempt,
    transient: false,
  };
}

/**
 * One request through node:http(s). A template-steered call connects only where the egress
 * policy allows: an IP literal is judged here (net.connect does not resolve a literal), a name by
 * the socket's own `lookup`, so there is one resolution per connection and it is the one judged.
 */
function viaNode(
  client: HttpClient,
  call: ServiceCall,
  url: URL,
  headers: Record<string, string>,
): Promise<RawReply> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const target: EgressTarget = { what: call.urlName ?? `${call.service} URL`, host: url.hostname };
  if (!call.trusted && isIP(host) !== 0) {
    const verdict = client.egress.check(host);
    if (!verdict.allowed) return Promise.reject(refusal(target, host, verdict.rule));
  }
  const body = Buffer.from(call.body, "utf8");
  const options = {
    method: call.method,
    hostname: host,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: `${url.pathname}${url.search}`,
    headers: { ...headers, "content-length": String(body.length) },
    // A fresh agent per request: no pooled socket, and no proxy from the environment.
    agent: false as const,
    ...(call.trusted ? {} : { lookup: guardedLookup(client.egress, client.resolve, target) }),
  };
  return new Promise<RawReply>((resolve, reject) => {
    let settled = false;
    const settle = (error: unknown, reply?: RawReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (reply) resolve(reply);
      else reject(error);
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (truncated: boolean) =>
        settle(undefined, {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          headers: toHeaders(res),
          body: Buffer.concat(chunks),
          truncated,
        });
      res.on("data", (chunk: Buffer) => {
        if (settled) return;
        if (size + chunk.length > MAX_RESPONSE_BYTES) {
          chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
          done(true);
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on("end", () => done(false));
      res.on("error", (error) => settle(error));
      res.on("close", () => {
        if (!res.complete) settle(new Error("the connection closed before the answer ended"));
      });
    };
    const req =
      url.protocol === "https:" ? httpsRequest(options, onResponse) : httpRequest(options, onResponse);
    const timer = setTimeout(() => {
      const error = new Error(`no answer within ${client.timeoutMs} ms`);
      error.name = "TimeoutError";
      settle(error);
      req.destroy(error);
    }, client.timeoutMs);
    req.on("error", (error) => settle(error));
    req.end(body);
  });
}

function toHeaders(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of Array.isArray(value) ? value : [value ?? ""]) {
      try {
        headers.append(name, v);
      } catch {
        // A header Headers cannot hold is not one the hooks read.
      }
    }
  }
  return headers;
}

async function viaFetch(
  fetch: FetchLike,
  timeoutMs: number,
  call: ServiceCall,
  headers: Record<string, string>,
): Promise<RawReply> {
  const response = await fetch(call.url, {
    method: call.method,
    headers,
    body: call.body,
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  });
  const { body, truncated } = await readBounded(response, MAX_RESPONSE_BYTES);
  return {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    body,
    truncated,
  };
}

/**
 * A redirect is never followed (it would resend the body and its signature elsewhere); when it
 * points at an address the policy refuses, that is the failure to report, naming the rule.
 * @throws EgressRefusedError for a redirect to a refused address.
 */
async function checkRedirect(client: HttpClient, call: ServiceCall, reply: ServiceReply): Promise<void> {
  if (call.trusted || client.fetch || reply.status < 300 || reply.status > 399) return;
  const location = reply.headers.get("location");
  if (!location) return;
  let target: URL;
  try {
    target = new URL(location, call.url);
  } catch {
    return;
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") return;
  try {
    await checkHost(client.egress, client.resolve, { what: "its", host: target.hostname });
  } catch (error) {
    // A name that does not resolve leads nowhere: the plain "not followed" failure says enough.
    if (!(error instanceof EgressRefusedError)) return;
    const status = `HTTP ${reply.status}${reply.statusText ? ` ${reply.statusText}` : ""}`;
    throw new EgressRefusedError(
      `${call.service} answered ${status}, a redirect to ${origin(target.href)} (redirects are not followed), and ${error.message}`,
      error.address,
    );
  }
}

function isTransient(reply: ServiceReply, call: ServiceCall): boolean {
  return reply.status === 429 || reply.status >= 500 || (call.transient?.(reply) ?? false);
}

/**
 * The wait before try `attempt + 1`: what the service asked for (Retry-After seconds or
 * HTTP-date; a rate-limit reset when the limit is used up), capped at MAX_RETRY_AFTER_MS; else
 * exponential backoff with full jitter (a random wait up to 1 s, 2 s, ... capped at 10 s).
 */
export function retryDelayMs(
  reply: Pick<ServiceReply, "headers"> | undefined,
  attempt: number,
  random: () => number,
  now: number,
): number {
  const asked = reply ? requestedWaitMs(reply.headers, now) : undefined;
  if (asked !== undefined) return Math.min(asked, MAX_RETRY_AFTER_MS);
  return Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
}

/** The wait a service asks for, in ms, or undefined when it does not say. */
export function requestedWaitMs(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  // GitHub (x-ratelimit-*) and X (x-rate-limit-*) say when a used-up limit resets, in epoch seconds.
  for (const prefix of ["x-ratelimit-", "x-rate-limit-"]) {
    const reset = headers.get(`${prefix}reset`)?.trim();
    if (headers.get(`${prefix}remaining`)?.trim() === "0" && reset && /^\d+$/.test(reset)) {
      return Math.max(0, Number(reset) * 1000 - now);
    }
  }
  return undefined;
}

function unreachable(
  call: ServiceCall,
  error: unknown,
  attempts: number,
  timeoutMs: number,
): HookServiceError {
  const what =
    error instanceof Error && error.name === "TimeoutError"
      ? `did not answer within ${timeoutMs / 1000} s`
      : `could not be reached (${describeNetworkError(error)})`;
  return new HookServiceError(
    call.service,
    `${call.service} ${what} on ${attempts} attempts (${origin(call.url)})`,
    { attempts, retryable: true },
    { cause: error },
  );
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const own = (error as { code?: unknown }).code;
  if (typeof own === "string") return own;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return error.message;
}

/** Scheme, host and path of a URL: never its query, which may carry a token. */
export function origin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "an invalid URL";
  }
}

function location(base: string, value: string | null): string {
  if (!value) return "no Location";
  try {
    return origin(new URL(value, base).href);
  } catch {
    return "an invalid Location";
  }
}

async function readBounded(response: Response, max: number): Promise<{ body: Buffer; truncated: boolean }> {
  if (!response.body) return { body: Buffer.alloc(0), truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      chunks.push(value.subarray(0, max - size));
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { body: Buffer.concat(chunks), truncated };
}

function parseJson(text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One template value as one path segment of a configured endpoint's URL: percent-encoded, so `/`,
 * `?`, `#` and `%2e%2e` stay inside the segment, and never `.` or `..`, which URL parsing would
 * turn into a walk to another API path (with the team's token).
 * @throws HookRequestError naming the param when the value is `.` or `..`.
 */
export function pathSegment(hook: string, param: string, value: string): string {
  if (value === "." || value === "..") {
    throw new HookRequestError(
      `${hook} \`${param}\` is \`${value}\`, which is not a name: it would change the API path`,
    );
  }
  return encodeURIComponent(value);
}

/** A string field of a JSON object, if it is one. */
export function field(json: unknown, name: string): string | undefined {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined;
  const value = (json as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}

/** At most `max` characters of a service's text, for a message. */
export function excerpt(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

/**
 * The error for an answer that is not the one expected: retryable when it was still transient
 * after every try; the message carries the service's own words (`serviceText`).
 */
export function refused(
  call: Pick<ServiceCall, "service" | "url">,
  reply: ServiceReply,
  serviceText: string,
): HookServiceError {
  const status = `HTTP ${reply.status}${reply.statusText ? ` ${reply.statusText}` : ""}`;
  const tries = reply.attempts > 1 ? ` after ${reply.attempts} attempts` : "";
  const words = serviceText ? `: ${serviceText}` : "";
  const redirect =
    reply.status >= 300 && reply.status < 400
      ? ` (redirects are not followed; it points to ${location(call.url, reply.headers.get("location"))})`
      : "";
  return new HookServiceError(call.service, `${call.service} answered ${status}${tries}${words}${redirect}`, {
    status: reply.status,
    attempts: reply.attempts,
    retryable: reply.transient,
  });
}
