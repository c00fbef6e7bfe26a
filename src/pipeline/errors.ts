import { TeamstackError } from "../core/errors.ts";

/**
 * Errors the task functions throw. Their `name`s are the contract with the ASL's Retry and Catch
 * (a test checks every ErrorEquals entry is `States.*`, `Lambda.*` or one of these).
 */
export class PipelineError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PipelineError";
  }
}

/** Another run holds the stack. */
export class StackLockedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "StackLockedError";
  }
}

export class StackNotFoundError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "StackNotFoundError";
  }
}

/** The stored template no longer validates (it did when the stack was made). */
export class TemplateInvalidError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "TemplateInvalidError";
  }
}

/** A dependency failed or was skipped, so this server is skipped. */
export class DependencyFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "DependencyFailedError";
  }
}

/** A server that depends on this one was not destroyed, so this one is kept (destroy). */
export class DependentNotDestroyedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "DependentNotDestroyedError";
  }
}

/** user_data exited non-zero, or the server vanished before it was ready. */
export class UserDataFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "UserDataFailedError";
  }
}

/** The provider asks to slow down; the ASL retries with backoff and jitter. */
export class ProviderThrottledError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderThrottledError";
  }
}

export class ProviderFailedError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderFailedError";
  }
}

/** At least one server failed or was skipped. */
export class ServersFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "ServersFailedError";
  }
}

export class HookFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "HookFailedError";
  }
}

/** A hook failed in a way that may pass on a retry (429, 5xx, timeout). */
export class HookRetryableError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "HookRetryableError";
  }
}

/** The store could not be reached; retried by the ASL. */
export class StoreUnavailableError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** How a failed provisioning execution ends (the cause names the first error). */
export class StackFailedError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "StackFailedError";
  }
}

/** Error names the state machines may match. */
export const PIPELINE_ERROR_NAMES = [
  "StackLockedError",
  "StackNotFoundError",
  "TemplateInvalidError",
  "DependencyFailedError",
  "UserDataFailedError",
  "ProviderThrottledError",
  "ProviderFailedError",
  "ServersFailedError",
  "HookFailedError",
  "HookRetryableError",
  "StoreUnavailableError",
] as const;

/** A server's provider cannot run where teamstack runs (the aws provider on one machine, say). */
export class ProviderUnavailableError extends PipelineError {
  constructor(message: string) {
    super(message);
    this.name = "ProviderUnavailableError";
  }
}
