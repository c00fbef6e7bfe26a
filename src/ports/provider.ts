import type { SpawnOptions } from "node:child_process";
import type { ProviderDeclaration } from "../core/providers.ts";
import type { ProviderName, ServerSpec } from "../core/template.ts";
import type { TableOptions } from "../store/dynamo/table-client.ts";
import type { RateBudget } from "./rate-budget.ts";
import type { ServerLogs } from "./server-logs.ts";
import type { TeamDirectory } from "./store.ts";

/** What a provider needs to create one server of a stack. */
export interface CreateServerRequest {
  readonly stackId: string;
  readonly team: string;
  readonly member: string;
  /** The server's name in the template. */
  readonly server: string;
  readonly type: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** The user_data script with every reference already rendered. */
  readonly userData: string;
  /**
   * Stable per stack, server and creation attempt. Creating twice with the same token
   * returns the server made the first time and creates nothing.
   */
  readonly idempotencyToken: string;
  /**
   * The secret values the stack uses (which user_data may hold once rendered): a provider that
   * keeps user_data's output masks them in it.
   */
  readonly secrets?: readonly string[];
}

/** Artifacts a provider reports for a server (`IP`, `Id`, ...), all strings. */
export type ServerArtifacts = Readonly<Record<string, string>> & { readonly Id: string; readonly IP: string };

/** How user_data ended. */
export type ReadyResult =
  | { readonly ready: true }
  | { readonly ready: false; readonly reason: string; readonly exitCode?: number; readonly output?: string };

/** A script's run on a server: exit code and captured output (bounded; `truncated` says when cut). */
export interface ScriptResult {
  readonly exitCode: number;
  readonly output: string;
  readonly truncated: boolean;
}

/** How a script runs: its time limit, how much output is kept, extra environment. */
export interface ScriptOptions {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly env?: Readonly<Record<string, string>>;
}

export interface ServerRef {
  /**
   * The stack's team. A provider that works in each team's own account finds the team's credential
   * through it; others ignore it.
   */
  readonly team?: string;
  readonly stackId: string;
  readonly server: string;
  /** The provider's own id (`Id` artifact); empty when a create's answer was lost. */
  readonly id: string;
  /**
   * The idempotency token the server was created with: finds a server whose id was never
   * recorded (the process died between the create and storing its answer).
   */
  readonly token?: string;
  /**
   * The server's compiled, non-secret options, from its stored spec: a provider reads its own
   * placement (aws: region, credential name) here, never from the store or the template.
   */
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * The Provider port: creates, watches, scripts and destroys servers.
 * Every method is idempotent: retried after a lost response, it converges and never creates twice.
 */
export interface Provider {
  readonly name: ProviderName;
  /**
   * Creates the server (or finds the one made earlier with the same idempotency token) and starts
   * its user_data. Returns as soon as the server exists; user_data may still be running.
   */
  create(request: CreateServerRequest): Promise<ServerArtifacts>;
  /** Resolves when the server's user_data has finished (or the server is gone), or rejects on abort. */
  waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult>;
  /** Runs a script on the server and waits for it. */
  runScript(ref: ServerRef, script: string, options: ScriptOptions): Promise<ScriptResult>;
  /** Destroys the server and everything it made; a server already gone is not an error. */
  destroy(ref: ServerRef): Promise<void>;
  /**
   * Stops the server, keeping its disk, its `Id` and its private address; its processes end
   * (present when the declaration lists the `stop` verb). A server stopped already is not an error.
   */
  stop?(ref: ServerRef): Promise<void>;
  /**
   * Starts a stopped server again, with the same `Id`, and answers its artifacts as they are now
   * (a public address may have changed); a running server is not an error (present when the
   * declaration lists the `start` verb). user_data does not run again.
   */
  start?(ref: ServerRef): Promise<ServerArtifacts>;
  /**
   * The command that opens an interactive shell on the server, to run with the caller's terminal
   * (present when the declaration lists the `shell` verb). `term` is the caller's TERM.
   */
  shell?(ref: ServerRef, term: string | undefined): Promise<ShellCommand>;
}

/** A process to start with the caller's terminal attached: a shell on a server. */
export interface ShellCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly options: SpawnOptions;
  /** Run by the caller once the process has ended (or could not start): removes what it needed (aws: its one-time key). */
  readonly cleanup?: () => Promise<void>;
}

/**
 * What a runtime gives a provider's factory: the local runtime's state directory, the store the
 * provider may keep its own records in (aws: its bootstrap leases) and finds teams' credentials
 * in, and the readiness callback's endpoint for providers whose servers report themselves.
 */
export interface ProviderHost {
  /** Where the local runtime keeps its files; absent in AWS. */
  readonly stateDir?: string;
  /**
   * The store; absent where none is open (the CLI's checks before a run starts its store). A
   * provider that needs it says so when it is missing.
   */
  readonly store?: Pick<TeamDirectory, "getCredential">;
  /**
   * The store's table, for a provider that keeps its own small records there behind its own port
   * (aws: bootstrap leases); absent where no store is open.
   */
  readonly table?: TableOptions;
  /**
   * Rate budgets shared by every process of the deployment (the table's, see
   * src/store/rate-budget.ts): an account-wide limit such as RunInstances'. Absent: the provider
   * keeps its own, per process.
   */
  readonly rateBudget?: RateBudget;
  /**
   * Where a provider that streams user_data's output keeps it, attempt by attempt (the ServerLogs
   * port; sim writes its scripted output there). The local provider writes the same files itself
   * (its sandbox's holder appends as user_data prints), under `stateDir`. Absent: not kept.
   */
  readonly logs?: ServerLogs;
  /**
   * Teams' registered credentials for providers, with their secret fields read from the Secrets
   * port (only a provider's own process sees them; nothing it stores or answers may hold them).
   * Absent where no store is open.
   */
  readonly credentials?: ProviderCredentials;
  /** Where servers report readiness and the secret their URLs are signed with, asked for on first use. */
  readonly callback?: () => Promise<{ readonly baseUrl: string; readonly secret: Uint8Array }>;
}

/**
 * A credential a team registered for a provider (`PUT /teams/{team}/credentials/{name}` with
 * `"provider"`), its fields as the provider's credential schema declares them: the secret ones
 * (a private key, a TLS key) read at the last moment.
 */
export interface ProviderCredential {
  readonly team: string;
  readonly name: string;
  readonly provider: string;
  /** Every field given, by its name in the provider's credential schema, secret ones included. */
  readonly fields: Readonly<Record<string, string>>;
}

/** Where a provider finds the credentials teams registered for it. */
export interface ProviderCredentials {
  /** The team's credential of that name for that provider; undefined when it has none. */
  get(team: string, name: string, provider: string): Promise<ProviderCredential | undefined>;
  /** The names of the team's credentials for that provider, sorted (ssh: the team's pool of hosts). */
  list(team: string, provider: string): Promise<string[]>;
}

/** A check before anything is created: the servers of a template that will run on this provider. */
export interface PreflightRequest {
  readonly team: string;
  readonly servers: readonly ServerSpec[];
}

/** The I/O half of a provider module, loaded only where servers are made or checked. */
export interface ProviderImplementation {
  /** Makes the provider for a runtime. */
  create(host: ProviderHost): Provider;
  /**
   * Checks, before a stack is created, what would make every server fail (the machine cannot make
   * sandboxes; the team has no credential of that name).
   * @throws TeamstackError saying what is missing and how to fix it.
   */
  preflight?(request: PreflightRequest, host: ProviderHost): Promise<void>;
}

/**
 * A provider: its declaration (pure: names, capabilities, credential schema) and a loader of its
 * implementation, imported on first use so that reading a registry loads no provider code.
 */
export interface ProviderModule {
  readonly declaration: ProviderDeclaration;
  readonly load: () => Promise<ProviderImplementation>;
}
