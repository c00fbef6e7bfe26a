import { ERROR_NAMES } from "../../core/error-names.ts";
import { ProviderError, ProviderRequestError, ProviderThrottledError } from "../errors.ts";

/**
 * Errors of the `aws` provider. Every SDK exception is turned into one of these (or into
 * `ProviderRequestError` / `ServerNotFoundError`) inside the adapter, with the SDK error as `cause`:
 * no SDK class leaves it.
 */

/** AWS asks to slow down (RequestLimitExceeded, Throttling), or could not be reached for now. */
export { ProviderThrottledError };

/** The team's credential is missing, malformed, or refused (AssumeRole denied, secret unreadable). */
export class AwsCredentialError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.AwsCredentialError;
  }
}

/** An AWS call failed for a reason a retry will not fix (permissions, limits, capacity, ...). */
export class AwsApiError extends ProviderError {
  /** The AWS error code (`UnauthorizedOperation`, `InsufficientInstanceCapacity`, ...). */
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.AwsApiError;
    this.code = code;
  }
}

/** Codes AWS uses to say "slow down". */
const THROTTLING = new Set([
  "RequestLimitExceeded",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "SlowDown",
]);

/** Codes and names that mean "not now": the service or the network failed on the way. */
const TRANSIENT = new Set([
  "InternalError",
  "InternalFailure",
  "InternalServerError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "Unavailable",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "AbortError",
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Codes that say the request itself is wrong: a bad AMI, type, size or parameter. */
const BAD_REQUEST = [
  /^InvalidAMIID\./,
  /^InvalidParameter/,
  /^InvalidInstanceType$/,
  /^InvalidBlockDeviceMapping$/,
  /^InvalidUserData\./,
  /^Unsupported/,
  /^MissingParameter$/,
  /^InvalidKeyPair\.Format$/,
];

/** The parts of an SDK (or network) error that decide what it becomes. */
export function awsErrorCode(err: unknown): { code: string; message: string; status: number } {
  if (typeof err !== "object" || err === null) return { code: "Error", message: String(err), status: 0 };
  const e = err as {
    name?: unknown;
    Code?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    cause?: unknown;
  };
  const innerCode =
    typeof e.cause === "object" && e.cause !== null ? (e.cause as { code?: unknown }).code : undefined;
  const code =
    (typeof e.Code === "string" && e.Code) ||
    (typeof e.code === "string" && e.code) ||
    (typeof innerCode === "string" && innerCode) ||
    (typeof e.name === "string" && e.name) ||
    "Error";
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : 0;
  return { code, message: typeof e.message === "string" ? e.message : String(err), status };
}

/** True when `err` is AWS saying that a named resource does not exist (`InvalidInstanceID.NotFound`, ...). */
export function isNotFound(err: unknown): boolean {
  const { code } = awsErrorCode(err);
  return /\.NotFound$|NotFound$|^InvalidInstanceID\.Malformed$/.test(code);
}

/**
 * Turns whatever an AWS call threw into one of the provider's errors. `what` says which call, in
 * the user's words (`EC2 RunInstances in eu-west-1`).
 */
export function translateAwsError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const { code, message, status } = awsErrorCode(err);
  if (THROTTLING.has(code) || status === 429) {
    return new ProviderThrottledError(`${what}: AWS is throttling requests (${code}); retry later`, {
      cause: err,
    });
  }
  if (TRANSIENT.has(code) || status >= 500) {
    // Retrying is safe: every create carries a client token and finds what an earlier try made.
    return new ProviderThrottledError(`${what}: AWS could not be reached or failed (${code}: ${message})`, {
      cause: err,
    });
  }
  if (BAD_REQUEST.some((re) => re.test(code))) {
    return new ProviderRequestError(`${what}: ${code}: ${message}`, { cause: err });
  }
  if (code === "UnauthorizedOperation" || code === "AccessDenied" || code === "AccessDeniedException") {
    return new AwsApiError(
      `${what}: the team's credential may not do this (${code}): give its role the permission the README lists`,
      code,
      { cause: err },
    );
  }
  return new AwsApiError(`${what}: ${code}: ${message}`, code, { cause: err });
}
