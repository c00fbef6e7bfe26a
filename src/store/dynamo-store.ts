import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Store, TaskStore } from "../ports/store.ts";
import { createDynamoOutboundEventLog } from "./dynamo/outbound-events.ts";
import { createDynamoStackRuns } from "./dynamo/stack-runs.ts";
import { createTableClient } from "./dynamo/table-client.ts";
import {
  createDynamoCredentialListing,
  createDynamoTeamDirectory,
  createDynamoTeamListing,
} from "./dynamo/team-directory.ts";
import { createDynamoTemplateCatalog } from "./dynamo/templates.ts";

export interface DynamoStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Time source for event timestamps (default: the system clock). */
  readonly now?: () => Date;
}

/** The DynamoDB store: every part of the Store port. */
export type DynamoStore = Store;

/**
 * Creates the DynamoDB adapter of the Store port on one table (`pk`/`sk`, see keys.ts): its parts
 * (src/store/dynamo/: stack runs with the wait protocol, the template catalog, the team directory,
 * the outbound event log) over one table client. The aws provider's bootstrap leases, its own
 * port, are in the same table: dynamo/bootstrap-leases.ts.
 *
 * Every write is a single-item operation (dynalite has no transactions); see waits.ts for how
 * exactly one caller is told to release a waiting server.
 */
export function createDynamoStore(options: DynamoStoreOptions): DynamoStore {
  const table = createTableClient(options);
  return {
    ...createDynamoStackRuns(table, { now: options.now ?? (() => new Date()) }),
    ...createDynamoTemplateCatalog(table),
    ...createDynamoTeamDirectory(table),
    ...createDynamoTeamListing(table),
    ...createDynamoOutboundEventLog(table),
  };
}

/**
 * The store without the template catalog, for the task functions (they read the compiled records,
 * never a published template): their bundles stay small.
 */
export function createDynamoTaskStore(options: DynamoStoreOptions): TaskStore {
  const table = createTableClient(options);
  return {
    ...createDynamoStackRuns(table, { now: options.now ?? (() => new Date()) }),
    ...createDynamoTeamDirectory(table),
    // A provider's pool of hosts (ProviderHost.credentials.list).
    ...createDynamoCredentialListing(table),
    ...createDynamoOutboundEventLog(table),
  };
}
