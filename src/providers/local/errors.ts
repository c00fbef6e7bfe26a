import { ProviderError } from "../errors.ts";

/** Base class of the `local` provider's errors: something about a sandbox on this machine. */
export class LocalSandboxError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalSandboxError";
  }
}

/** This machine cannot run sandboxes: a tool or a kernel feature is missing. The message says which. */
export class SandboxUnsupportedError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxUnsupportedError";
  }
}

/** A sandbox could not be set up (its namespaces, its filesystem); the message carries the holder's own words. */
export class SandboxSetupError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxSetupError";
  }
}

/** The sandbox exists but no longer runs (its holder process is gone, e.g. after a reboot). */
export class SandboxNotRunningError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxNotRunningError";
  }
}

/** Another process kept a sandbox's lock for longer than the wait allows. */
export class SandboxBusyError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxBusyError";
  }
}

/** No free loopback address was found for a server. */
export class AddressExhaustedError extends LocalSandboxError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AddressExhaustedError";
  }
}
