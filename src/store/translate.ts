import {
  ItemTooLargeError,
  StoreError,
  StoreThrottledError,
  StoreUnavailableError,
  TableNotFoundError,
} from "./errors.ts";

const THROTTLING = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "LimitExceededException",
]);

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Turns whatever the SDK threw into one of our errors (the SDK error stays as `cause`).
 * `what` names the item for messages (e.g. "stack `s1`").
 */
export function translateError(
  err: unknown,
  operation: string,
  tableName: string,
  what?: string,
): StoreError {
  if (err instanceof StoreError) return err;
  const { name, message, code } = describe(err);
  if (name === "ResourceNotFoundException") return new TableNotFoundError(tableName, { cause: err });
  // EAGAIN on connect: the local daemon's socket has a full queue of connections waiting to be
  // accepted; like throttling, it passes, and the caller's retry (the state machine's) waits it out.
  if (THROTTLING.has(name) || code === "EAGAIN") return new StoreThrottledError(operation, { cause: err });
  if (name === "ValidationException" && /item size/i.test(message)) {
    return new ItemTooLargeError(what ?? "the item", { cause: err });
  }
  if (UNREACHABLE_CODES.has(code) || name === "TimeoutError" || name === "AbortError") {
    return new StoreUnavailableError(operation, `${code || name}: ${message}`, { cause: err });
  }
  return new StoreError(`DynamoDB ${operation} failed: ${name}: ${message}`, { cause: err });
}

function describe(err: unknown): { name: string; message: string; code: string } {
  if (typeof err !== "object" || err === null) return { name: "Error", message: String(err), code: "" };
  const e = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  // Network failures can arrive wrapped (AggregateError or a cause chain): look one level down.
  const inner = (e as { errors?: unknown[] }).errors?.[0] ?? e.cause;
  const innerCode =
    typeof inner === "object" && inner !== null && typeof (inner as { code?: unknown }).code === "string"
      ? ((inner as { code: string }).code as string)
      : "";
  return {
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : String(err),
    code: code || innerCode,
  };
}
