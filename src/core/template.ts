/**
 * The validated stack template: what the rest of teamstack works from.
 * Produced by `loadTemplate` (parse + validate); every field is checked and normalised.
 */

/**
 * A provider's canonical name. The core knows no provider by name: validation checks names
 * against the catalog it is given (src/core/providers.ts), filled from src/providers/registry.ts.
 */
export type ProviderName = string;

export const HOOK_TYPES = ["add_github_user", "run_script", "slack_msg", "send_tweet", "webhook"] as const;
export type HookType = (typeof HOOK_TYPES)[number];

/** Artifacts every server has once it is ready. */
export const SERVER_ARTIFACTS = [
  "IP",
  "PrivateIP",
  "PublicIP",
  "Id",
  "Hostname",
  "Provider",
  "Type",
  "Region",
] as const;
export type ServerArtifactName = (typeof SERVER_ARTIFACTS)[number];

/** Artifacts of the stack as a whole (`$koding.artifact.K`). */
export const STACK_ARTIFACTS = ["domainName", "stackId", "memberName", "teamName"] as const;
export type StackArtifactName = (typeof STACK_ARTIFACTS)[number];

export type VarValue = string | number | boolean;

export interface Settings {
  /** What to do with the servers of a failed run. */
  readonly onFailure: "keep" | "rollback";
  /** How many servers are created at once. */
  readonly maxParallel: number;
  /** How long a server may take from create to ready, in seconds. */
  readonly serverTimeoutSeconds: number;
  /** `ttl`: the stack is destroyed this many seconds after its creation. */
  readonly ttlSeconds?: number;
  /** `auto_stop`: the stack is stopped this many seconds after its last start. */
  readonly autoStopSeconds?: number;
}

export const DEFAULT_SETTINGS: Settings = { onFailure: "keep", maxParallel: 40, serverTimeoutSeconds: 600 };

export interface ServerSpec {
  readonly name: string;
  /** The canonical provider (aliases resolved). */
  readonly provider: ProviderName;
  /** As written: provider-native (`t2.micro`) or portable (`4gb-ram/40gb-disk`). */
  readonly type: string;
  /** The script run at first boot, before interpolation ("" when absent). */
  readonly userData: string;
  /** Servers named in `depends_on`, in the order written. */
  readonly dependsOn: readonly string[];
  /** Provider-specific options, checked against the provider's capabilities. */
  readonly options: Readonly<Record<string, unknown>>;
  /** `on_start`: the script run at every start (after user_data the first time); absent when none. */
  readonly onStart?: string;
}

/** Where a template's hook runs: before any server, after every server, or before the servers are destroyed. */
export type TemplateHookPhase = "pre" | "post" | "destroy";
/** A hook record's phase: a template's, or `undo` (a step undoing what a hook did, run at destroy). */
export type HookPhase = TemplateHookPhase | "undo";
export const HOOK_PHASES = ["pre", "post", "destroy", "undo"] as const satisfies readonly HookPhase[];

export interface HookSpec {
  readonly type: HookType;
  readonly phase: TemplateHookPhase;
  /** 0-based position within its phase. */
  readonly index: number;
  /** The hook's parameters, before interpolation (strings may hold references). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly continueOnError: boolean;
  /** `undo: false` (add_github_user): destroying the stack leaves what the hook did in place. */
  readonly undo?: false;
}

export interface Template {
  readonly vars: Readonly<Record<string, VarValue>>;
  readonly settings: Settings;
  readonly preHooks: readonly HookSpec[];
  readonly servers: readonly ServerSpec[];
  readonly postHooks: readonly HookSpec[];
  /** In order, before the stack's servers are destroyed (absent: none). */
  readonly destroyHooks?: readonly HookSpec[];
}
