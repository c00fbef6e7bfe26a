import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/** Base class of every error a provider adapter raises on purpose. */
export class ProviderError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ProviderError;
  }
}

/** A request the provider cannot act on as given: a bad option value, a name it cannot use. */
export class ProviderRequestError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ProviderRequestError;
  }
}

/**
 * The provider asks to slow down (a rate limit, a busy API). The name is the contract with the ASL,
 * which retries it with backoff and jitter: the same name as the pipeline's
 * `ProviderThrottledError` (src/pipeline/errors.ts), so the same Retry matches it.
 */
export class ProviderThrottledError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ProviderThrottledError;
  }
}

/** The server a call refers to does not exist (never created, already destroyed, or replaced). */
export class ServerNotFoundError extends ProviderError {
  readonly stackId: string;
  readonly server: string;
  constructor(stackId: string, server: string, detail: string, options?: ErrorOptions) {
    super(`server \`${server}\` of stack \`${stackId}\` does not exist: ${detail}`, options);
    this.name = ERROR_NAMES.ServerNotFoundError;
    this.stackId = stackId;
    this.server = server;
  }
}
