import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/**
 * Errors the task functions throw. Their names come from src/core/error-names.ts, the contract with
 * the ASL's Retry and Catch. The store's and the providers' errors reach the ASL as they are
 * (StackNotFoundError, StoreUnavailableError, ProviderThrottledError, ...): no copies here.
 */
export class PipelineError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.PipelineError;
  }
}

/** Another run holds the stack. */
export class StackLockedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.StackLockedError;
  }
}

/** The stored template no longer validates (it did when the stack was made). */
export class TemplateInvalidError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.TemplateInvalidError;
  }
}

/** A server that depends on this one was not destroyed, so this one is kept (destroy). */
export class DependentNotDestroyedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.DependentNotDestroyedError;
  }
}

/** user_data exited non-zero, or the server vanished before it was ready. */
export class UserDataFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.UserDataFailedError;
  }
}

export class ProviderFailedError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ProviderFailedError;
  }
}

/** At least one server failed or was skipped. */
export class ServersFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.ServersFailedError;
  }
}

export class HookFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.HookFailedError;
  }
}

/** A hook failed in a way that may pass on a retry (429, 5xx, timeout). */
export class HookRetryableError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.HookRetryableError;
  }
}

/** How a failed provisioning execution ends (the cause names the first error). */
export class StackFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.StackFailedError;
  }
}

/** A server's provider cannot run where teamstack runs (the aws provider on one machine, say). */
export class ProviderUnavailableError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.ProviderUnavailableError;
  }
}
