import type { HookPhase, HookType } from "../core/template.ts";

/** A hook with its params rendered, ready to run. */
export interface HookRequest {
  readonly team: string;
  readonly stackId: string;
  readonly member: string;
  readonly type: HookType;
  /** `undo`: undo what this hook type did (add_github_user: remove the membership). */
  readonly phase: HookPhase;
  readonly index: number;
  readonly params: Readonly<Record<string, unknown>>;
  /** Reads one of the team's secrets (`github_token`, ...) at the last moment; undefined if unset. */
  readonly teamSecret: (name: string) => Promise<string | undefined>;
}

export interface HookResult {
  readonly status: "SUCCEEDED" | "FAILED" | "SKIPPED";
  /** What the hook printed or the service answered, bounded and with secrets masked. */
  readonly output?: string;
  readonly exitCode?: number;
  /** Why it failed or was skipped. */
  readonly message?: string;
  /** True when trying again may succeed (429, 5xx, timeouts). */
  readonly retryable?: boolean;
}

/** The Hook port: runs one hook. Every hook type goes through it. */
export interface HookRunner {
  run(request: HookRequest): Promise<HookResult>;
}
