import type { Validation } from "./validate.ts";

/** What the editor asks the validator worker: validate this text (the newest `seq` wins). */
export interface ValidateRequest {
  readonly seq: number;
  readonly text: string;
  readonly file: string;
}

/** The worker's answer to request `seq`. */
export interface ValidateResponse extends Validation {
  readonly seq: number;
}
