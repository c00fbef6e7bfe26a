import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/** Base class of every error the store raises on purpose. */
export class StoreError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.StoreError;
  }
}

/** The stack a call refers to is not in the store. */
export class StackNotFoundError extends StoreError {
  readonly team: string;
  readonly stackId: string;
  constructor(team: string, stackId: string, options?: ErrorOptions) {
    super(`stack \`${stackId}\` of team \`${team}\` is not in the store`, options);
    this.name = ERROR_NAMES.StackNotFoundError;
    this.team = team;
    this.stackId = stackId;
  }
}

/**
 * The server record a call refers to is not in the store. Named apart from the provider's
 * `ServerNotFoundError` (a machine that does not exist) because error names are the ASL contract.
 */
export class ServerRecordNotFoundError extends StoreError {
  readonly stackId: string;
  readonly server: string;
  constructor(stackId: string, server: string, options?: ErrorOptions) {
    super(`server \`${server}\` of stack \`${stackId}\` is not in the store`, options);
    this.name = ERROR_NAMES.ServerRecordNotFoundError;
    this.stackId = stackId;
    this.server = server;
  }
}

/** The template version a call refers to is not in the store (never published, or lost). */
export class TemplateNotFoundError extends StoreError {
  readonly team: string;
  readonly template: string;
  readonly version: number;
  constructor(team: string, template: string, version: number, options?: ErrorOptions) {
    super(
      `version ${version} of template \`${template}\` of team \`${team}\` is not in the store: publish it first`,
      options,
    );
    this.name = ERROR_NAMES.TemplateNotFoundError;
    this.team = team;
    this.template = template;
    this.version = version;
  }
}

/** A name cannot be part of a store key (it is empty or holds the `#` separator). */
export class InvalidStoreKeyError extends StoreError {
  constructor(what: string, value: string) {
    super(`${what} \`${value}\` cannot be stored: expected a non-empty name without \`#\``);
    this.name = ERROR_NAMES.InvalidStoreKeyError;
  }
}

/** An item is larger than DynamoDB's 400 KB item limit, even with its template compressed. */
export class ItemTooLargeError extends StoreError {
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} is larger than DynamoDB's 400 KB item limit, even with the template compressed`, options);
    this.name = ERROR_NAMES.ItemTooLargeError;
  }
}

/** The table does not exist (not created yet, or the wrong name or region). */
export class TableNotFoundError extends StoreError {
  readonly tableName: string;
  constructor(tableName: string, options?: ErrorOptions) {
    super(`DynamoDB table \`${tableName}\` does not exist: create it first (createTable)`, options);
    this.name = ERROR_NAMES.TableNotFoundError;
    this.tableName = tableName;
  }
}

/** DynamoDB refused the request for now (throttling); retrying later may succeed. */
export class StoreThrottledError extends StoreError {
  constructor(operation: string, options?: ErrorOptions) {
    super(`DynamoDB throttled ${operation} after the SDK's retries; try again later`, options);
    this.name = ERROR_NAMES.StoreThrottledError;
  }
}

/** DynamoDB (or the local dynalite daemon) could not be reached. */
export class StoreUnavailableError extends StoreError {
  constructor(operation: string, detail: string, options?: ErrorOptions) {
    super(`cannot reach the store for ${operation}: ${detail}`, options);
    this.name = ERROR_NAMES.StoreUnavailableError;
  }
}
