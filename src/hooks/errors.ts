import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/**
 * Base class of every error a hook adapter raises on purpose. The runner turns these into a FAILED
 * HookResult (they never leave the adapter); anything else is a bug or an outage of our own
 * dependencies and propagates to the task.
 */
export class HookError extends TeamstackError {
  /** True when trying again later may succeed (429, 5xx, timeouts, network errors). */
  readonly retryable: boolean;
  constructor(message: string, options?: ErrorOptions & { readonly retryable?: boolean }) {
    super(message, options);
    this.name = ERROR_NAMES.HookError;
    this.retryable = options?.retryable ?? false;
  }
}

/** The team has not set a secret the hook needs. */
export class MissingSecretError extends HookError {
  readonly team: string;
  readonly secrets: readonly string[];
  /** The template named the secret itself (a webhook's `secret:`): then missing it is an error. */
  readonly explicit: boolean;
  constructor(team: string, secrets: readonly string[], needs: string, explicit = false) {
    const names = secrets.map((s) => `\`${s}\``).join(", ");
    const how = secrets.map((s) => `\`teamstack secrets set --team ${team} ${s}\``).join(", ");
    super(
      `team \`${team}\` has no secret ${names}, which ${needs}; set ${secrets.length === 1 ? "it" : "them"} with ${how} (the value is read from stdin)`,
    );
    this.name = ERROR_NAMES.MissingSecretError;
    this.team = team;
    this.secrets = secrets;
    this.explicit = explicit;
  }
}

/** A hook's params cannot be sent as given (a bad URL, a header value fetch rejects). */
export class HookRequestError extends HookError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.HookRequestError;
  }
}

/** The service refused the call, or could not be reached after every attempt. */
export class HookServiceError extends HookError {
  readonly service: string;
  /** The last HTTP status, when the service answered at all. */
  readonly status: number | undefined;
  readonly attempts: number;
  constructor(
    service: string,
    message: string,
    details: { readonly status?: number; readonly attempts: number; readonly retryable: boolean },
    options?: ErrorOptions,
  ) {
    super(message, { ...options, retryable: details.retryable });
    this.name = ERROR_NAMES.HookServiceError;
    this.service = service;
    this.status = details.status;
    this.attempts = details.attempts;
  }
}

/**
 * A template-steered request would reach an address the egress policy refuses (loopback,
 * link-local, private, metadata, ...). Never retried: the same address would be refused again.
 */
export class EgressRefusedError extends HookError {
  /** The refused address. */
  readonly address: string;
  constructor(message: string, address: string) {
    super(message, { retryable: false });
    this.name = ERROR_NAMES.EgressRefusedError;
    this.address = address;
  }
}

/** TEAMSTACK_EGRESS_ALLOW cannot be read: a startup error naming every bad entry. */
export class EgressConfigError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.EgressConfigError;
  }
}
