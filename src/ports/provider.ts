import type { ProviderName } from "../core/template.ts";

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
   * The stack's team. A provider that works in each team's own account (`aws`) finds the team's
   * credential, and the server's options in the stack, through it; `local` and `sim` ignore it.
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
}
