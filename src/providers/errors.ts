import { TeamstackError } from "../core/errors.ts";

/** Base class of every error a provider adapter raises on purpose. */
export class ProviderError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderError";
  }
}

/** A request the provider cannot act on as given: a bad option value, a name it cannot use. */
export class ProviderRequestError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderRequestError";
  }
}

/** The server a call refers to does not exist (never created, already destroyed, or replaced). */
export class ServerNotFoundError extends ProviderError {
  readonly stackId: string;
  readonly server: string;
  constructor(stackId: string, server: string, detail: string, options?: ErrorOptions) {
    super(`server \`${server}\` of stack \`${stackId}\` does not exist: ${detail}`, options);
    this.name = "ServerNotFoundError";
    this.stackId = stackId;
    this.server = server;
  }
}
