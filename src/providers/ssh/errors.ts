import { ERROR_NAMES } from "../../core/error-names.ts";
import { ProviderError } from "../errors.ts";

/** Base class of the `ssh` provider's errors: something about a team's host or the connection to it. */
export class SshError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SshError;
  }
}

/** The team has no such host, or its registered fields cannot be used (a bad key, a bad field). */
export class SshHostError extends SshError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SshHostError;
  }
}

/** The host presented a host key other than the pinned one: the connection was refused. */
export class SshHostKeyError extends SshError {
  readonly expected: string;
  readonly received: string | undefined;
  constructor(message: string, expected: string, received: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SshHostKeyError;
    this.expected = expected;
    this.received = received;
  }
}

/** No SSH session could be made (unreachable, refused, authentication failed) or it broke. */
export class SshConnectionError extends SshError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SshConnectionError;
  }
}
