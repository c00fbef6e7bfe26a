import { StoreError } from "../../store/errors.ts";

/** The local store daemon could not be started, reached or stopped. */
export class LocalStoreError extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalStoreError";
  }
}
