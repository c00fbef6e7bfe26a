/** The part of dynalite 4 that teamstack uses (the package ships no types). */
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    /** LevelDB folder; in memory when absent. */
    readonly path?: string;
    /** How long tables stay CREATING / DELETING / UPDATING (default 500 ms each). */
    readonly createTableMs?: number;
    readonly deleteTableMs?: number;
    readonly updateTableMs?: number;
    readonly maxItemSizeKb?: number;
    readonly verbose?: boolean;
    readonly debug?: boolean;
  }

  /** Creates (does not start) an HTTP server speaking the DynamoDB API; `close` also closes LevelDB. */
  function dynalite(options?: DynaliteOptions): Server;
  export = dynalite;
}
