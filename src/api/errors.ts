import { ERROR_NAMES } from "../core/error-names.ts";
import type { Problem } from "../core/errors.ts";
import { TeamstackError } from "../core/errors.ts";

/** An answer other than success: its HTTP status, a stable code, and what to do about it. */
export class ApiError extends TeamstackError {
  readonly status: number;
  readonly code: string;
  readonly problems: readonly Problem[] | undefined;
  constructor(status: number, code: string, message: string, problems?: readonly Problem[]) {
    super(message);
    this.name = ERROR_NAMES.ApiError;
    this.status = status;
    this.code = code;
    this.problems = problems;
  }
}

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message);
export const unauthorized = (message: string) => new ApiError(401, "Unauthorized", message);
export const forbidden = (message: string) => new ApiError(403, "Forbidden", message);
export const notFound = (message: string) => new ApiError(404, "NotFound", message);
export const conflict = (message: string) => new ApiError(409, "Conflict", message);
export const unprocessable = (message: string, problems?: readonly Problem[]) =>
  new ApiError(422, "InvalidTemplate", message, problems);
