import { HookRequestError, HookServiceError } from "./errors.ts";

/** Bytes of a service's answer kept: enough for any error document, bounded for the status. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** How long one request may take, answer body included. */
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
  readonly fetch: FetchLike;
  readonly sleep: Sleep;
  readonly timeoutMs: number;
  /** A number in [0, 1) for the backoff jitter. */
  readonly random: () => number;
}

export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ServiceCall {
  /** The service's name in messages: `GitHub`, `Slack`, `X`, `webhook`. */
  readonly service: string;
  readonly method: "POST" | "PUT";
  readonly url: string;
  /** Computed again for every try when a function: a signature must carry a fresh nonce or timestamp. */
  readonly headers: HeaderFields | (() => HeaderFields);
  readonly body: string;
  /** Answers worth another try besides 429 and 5xx (Slack's `ratelimited`, GitHub's 403 rate limit). */
  readonly transient?: (reply: ServiceReply) => boolean;
}

export interface ServiceReply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  /** The answer's body, at most MAX_RESPONSE_BYTES of it. */
  readonly text: string;
  readonly truncated: boolean;
  /** The body parsed as JSON, or undefined when it is not JSON. */
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
 * @throws HookRequestError when the URL or a header cannot be sent at all.
 * @throws HookServiceError (retryable) when no answer came back on any try.
 */
export async function send(client: HttpClient, call: ServiceCall): Promise<ServiceReply> {
  checkUrl(call);
  let failure: unknown;
  for (let attempt = 1; ; attempt++) {
    const headers = checkHeaders(call);
    let reply: ServiceReply | undefined;
    try {
      reply = await sendOnce(client, call, headers, attempt);
    } catch (error) {
      failure = error;
    }
    const transient = reply ? isTransient(reply, call) : true;
    if (reply && !transient) return reply;
    if (attempt >= MAX_ATTEMPTS) {
      if (reply) return { ...reply, transient: true };
      throw unreachable(call, failure, attempt, client.timeoutMs);
    }
    await client.sleep(retryDelayMs(reply, attempt, client.random, Date.now()));
  }
}

function checkUrl(call: ServiceCall): void {
  let url: URL;
  try {
    url = new URL(call.url);
  } catch (error) {
    throw new HookRequestError(`${call.service} URL \`${call.url}\` is not a URL`, { cause: error });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new HookRequestError(`${call.service} URL must be http(s); found \`${url.protocol}\``);
  }
}

function checkHeaders(call: ServiceCall): Headers {
  const fields = typeof call.headers === "function" ? call.headers() : call.headers;
  let headers: Headers;
  try {
    headers = new Headers(fields);
  } catch {
    // fetch's own message repeats the value, which may hold a credential: name the header only.
    throw new HookRequestError(`a ${call.service} request header cannot be sent: ${badHeader(fields)}`);
  }
  if (!headers.has("user-agent")) headers.set("user-agent", "teamstack-hooks");
  return headers;
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

async function sendOnce(
  client: HttpClient,
  call: ServiceCall,
  headers: Headers,
  attempt: number,
): Promise<ServiceReply> {
  const response = await client.fetch(call.url, {
    method: call.method,
    headers,
    body: call.body,
    redirect: "manual",
    signal: AbortSignal.timeout(client.timeoutMs),
  });
  const { text, truncated } = await readBounded(response, MAX_RESPONSE_BYTES);
  return {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    text,
    truncated,
    json: parseJson(text),
    attempts: attempt,
    transient: false,
  };
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

async function readBounded(response: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: "", truncated: false };
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
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), truncated };
}

function parseJson(text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
