import { ERROR_NAMES } from "../../core/error-names.ts";
import { StoreError } from "../../store/errors.ts";

/** The local store daemon could not be started, reached or stopped. */
export class LocalStoreError extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.LocalStoreError;
  }
}

/** The store daemon went away during a run of a process that does not start it again (`up`). */
export class StoreLostError extends LocalStoreError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.StoreLostError;
  }
}
