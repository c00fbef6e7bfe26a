/**
 * The API's answers as the console reads them (src/api/routes.ts describes them; the console keeps
 * its own copies so that the browser bundle imports nothing from the server side).
 */

/** A row of GET /teams/{team}/stacks. */
export interface StackSummary {
  readonly stackId: string;
  readonly name: string | null;
  readonly member: string;
  readonly status: string;
  readonly template: string | null;
  readonly version: number | null;
  readonly startedAt: string;
}

export interface ServerView {
  readonly name: string;
  readonly status: string;
  readonly provider: string;
  readonly type: string;
  readonly dependsOn: readonly string[];
  readonly artifacts: Readonly<Record<string, string>>;
  readonly startedAt: string | null;
  readonly readyAt: string | null;
  readonly error: string | null;
  readonly change: "replacing" | "removing" | null;
}

export interface HookView {
  readonly phase: string;
  readonly index: number;
  readonly type: string;
  readonly status: string;
  readonly output: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
}

/** GET /teams/{team}/stacks/{id}. */
export interface StackView {
  readonly stackId: string;
  readonly name: string | null;
  readonly team: string;
  readonly member: string;
  readonly template: { readonly name: string | null; readonly version: number | null; readonly hash: string };
  readonly status: string;
  readonly run: number;
  readonly servers: readonly ServerView[];
  readonly hooks: readonly HookView[];
  readonly artifacts: Readonly<Record<string, unknown>>;
  readonly lock: unknown;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly expiresAt?: string;
  readonly stopsAt?: string;
  readonly stoppedAt?: string;
  readonly updateAvailable: boolean;
}

/** GET /teams/{team}/stacks/{id}/changes. */
export interface ChangeSet {
  readonly from: { readonly name?: string; readonly version?: number; readonly hash: string };
  readonly to: { readonly name?: string; readonly version?: number; readonly hash: string };
  readonly servers: ReadonlyArray<{
    readonly name: string;
    readonly action: "keep" | "create" | "replace" | "delete";
    readonly reasons: readonly string[];
  }>;
  readonly hooks: ReadonlyArray<{
    readonly phase: string;
    readonly index: number;
    readonly type: string;
    readonly action: "run" | "skip";
  }>;
}

/** GET /teams/{team}/stacks/{id}/servers/{server}/logs. */
export interface LogsPage {
  readonly server: string;
  readonly attempt: number;
  readonly attempts: number;
  readonly offset: number;
  readonly next: number;
  readonly text: string;
  readonly complete: boolean;
  readonly truncated: boolean;
  readonly limitBytes: number;
  /** What the attempt ran: user_data, on_start or hook. */
  readonly kind?: string;
  /** The attempt's exit code, once it has ended (when known). */
  readonly exitCode?: number;
}

/** What POST rerun, stop, start and DELETE answer. */
export interface Started {
  readonly stackId: string;
  readonly executionName: string;
}
