import { ERROR_NAMES } from "../../core/error-names.ts";
import { ProviderError } from "../errors.ts";

/** Base class of the `local` provider's errors: something about a sandbox on this machine. */
export class LocalSandboxError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.LocalSandboxError;
  }
}

/** This machine cannot run sandboxes: a tool or a kernel feature is missing. The message says which. */
export class SandboxUnsupportedError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SandboxUnsupportedError;
  }
}

/** A sandbox could not be set up (its namespaces, its filesystem); the message carries the holder's own words. */
export class SandboxSetupError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SandboxSetupError;
  }
}

/** The sandbox exists but no longer runs (its holder process is gone, e.g. after a reboot). */
export class SandboxNotRunningError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SandboxNotRunningError;
  }
}

/** Another process kept a sandbox's lock for longer than the wait allows. */
export class SandboxBusyError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SandboxBusyError;
  }
}

/** No free loopback address was found for a server. */
export class AddressExhaustedError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.AddressExhaustedError;
  }
}
