import { takePrefetched } from "./prefetch.ts";

/**
 * The console's API client: fetch with the bearer token, JSON in and out, and every failure turned
 * into an ApiError whose message says what went wrong in the API's own words.
 */

/** A problem the API names at a place in a template (422 InvalidTemplate). */
export interface ApiProblem {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** A failed call: the HTTP status (0: the API could not be reached), the API's code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problems: readonly ApiProblem[];
  constructor(status: number, code: string, message: string, problems: readonly ApiProblem[] = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface CallOptions {
  readonly body?: unknown;
  /** A raw text body (a template's YAML) instead of JSON. */
  readonly text?: string;
  /** Sends If-None-Match: a 304 answers `notModified`. */
  readonly etag?: string | undefined;
  readonly signal?: AbortSignal;
}

export interface CallResult<T> {
  readonly status: number;
  readonly body: T | undefined;
  readonly etag: string | undefined;
  readonly notModified: boolean;
}

export interface ApiClient {
  /** Where the API is (empty: this page's origin). */
  readonly base: string;
  readonly token: string;
  call<T>(method: Method, path: string, options?: CallOptions): Promise<CallResult<T>>;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  del<T>(path: string): Promise<T>;
}

/** Encodes a path segment (a team, stack or server name). */
export const seg = (value: string) => encodeURIComponent(value);

function problemsOf(value: unknown): ApiProblem[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((p): p is Record<string, unknown> => typeof p === "object" && p !== null)
    .map((p) => ({
      message: typeof p.message === "string" ? p.message : JSON.stringify(p),
      ...(typeof p.file === "string" ? { file: p.file } : {}),
      ...(typeof p.line === "number" ? { line: p.line } : {}),
      ...(typeof p.column === "number" ? { column: p.column } : {}),
    }));
}

/** The error an answer other than 2xx/304 stands for. */
async function errorOf(res: Response, method: string, path: string): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's page): the status says it.
  }
  const code = typeof body?.error === "string" ? body.error : res.statusText || "Error";
  const message =
    typeof body?.message === "string"
      ? body.message
      : `${method} ${path} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  return new ApiError(res.status, code, message, problemsOf(body?.problems));
}

/**
 * A client calling `base` with `token`. `onUnauthorized` runs on a 401 (the token expired or was
 * refused), before the call's ApiError is thrown.
 */
export function createApiClient(
  base: string,
  token: string,
  onUnauthorized: () => void = () => {},
): ApiClient {
  async function call<T>(method: Method, path: string, options: CallOptions = {}): Promise<CallResult<T>> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.etag) headers["if-none-match"] = options.etag;
    let body: string | undefined;
    if (options.text !== undefined) {
      body = options.text;
      headers["content-type"] = "text/yaml; charset=utf-8";
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    let res: Response;
    try {
      // no-store: the browser adds no conditional headers of its own, so a 304 reaches us as is.
      const early =
        method === "GET" && !options.etag && body === undefined ? takePrefetched(base, path) : undefined;
      res = await (early ??
        fetch(`${base}${path}`, {
          method,
          headers,
          cache: "no-store",
          ...(body !== undefined ? { body } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        }));
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ApiError(
        0,
        "Unreachable",
        `cannot reach the API at ${base || location.origin}: ${(error as Error).message}`,
      );
    }
    const etag = res.headers.get("etag") ?? undefined;
    if (res.status === 304)
      return { status: 304, body: undefined, etag: etag ?? options.etag, notModified: true };
    if (!res.ok) {
      const error = await errorOf(res, method, path);
      if (res.status === 401) onUnauthorized();
      throw error;
    }
    const text = await res.text();
    let parsed: T | undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text) as T;
      } catch {
        throw new ApiError(res.status, "BadAnswer", `${method} ${path}: the answer is not JSON`);
      }
    }
    return { status: res.status, body: parsed, etag, notModified: false };
  }
  const bodyOf = async <T>(p: Promise<CallResult<T>>) => (await p).body as T;
  return {
    base,
    token,
    call,
    get: (path) => bodyOf(call("GET", path)),
    post: (path, body) => bodyOf(call("POST", path, body === undefined ? {} : { body })),
    put: (path, body) => bodyOf(call("PUT", path, typeof body === "string" ? { text: body } : { body })),
    del: (path) => bodyOf(call("DELETE", path)),
  };
}
