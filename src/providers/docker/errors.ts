import { ERROR_NAMES } from "../../core/error-names.ts";
import { ProviderError } from "../errors.ts";

/** Base class of the `docker` provider's errors: something about a Docker Engine. */
export class DockerError extends ProviderError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.DockerError;
  }
}

/** The engine does not answer at its endpoint (no daemon, a refused connection, a bad certificate). */
export class DockerUnreachableError extends DockerError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.DockerUnreachableError;
  }
}

/** The image a server needs is not on the engine and could not be pulled in time. */
export class DockerImageMissingError extends DockerError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.DockerImageMissingError;
  }
}

/** The engine answered a request with an error status; the message carries its own words. */
export class DockerApiError extends DockerError {
  readonly status: number;
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.DockerApiError;
    this.status = status;
  }
}
