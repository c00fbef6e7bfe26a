/**
 * The Store port, in parts by what callers need: {@link StackRuns}, {@link TemplateCatalog},
 * {@link TeamDirectory} and {@link OutboundEventLog}; {@link Store} is all of them. The DynamoDB
 * adapter keeps them in one table (`pk`/`sk`, see src/store/keys.ts). Every write is a single-item
 * operation; the ones the orchestration races on are atomic updates that return the item as it is
 * afterwards.
 */

import type { CompiledHook, CompiledServer, SecretNames } from "../core/compiled.ts";
import type { HookPhase } from "../core/template.ts";

export const STACK_STATUSES = [
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
  "DESTROYING",
  "DESTROYED",
  "STOPPING",
  "STOPPED",
  "STARTING",
] as const;
export type StackStatus = (typeof STACK_STATUSES)[number];

export const SERVER_STATUSES = [
  "PENDING",
  "WAITING",
  "CREATING",
  "SUCCEEDED",
  "FAILED",
  "SKIPPED",
  "DESTROYED",
  "STOPPED",
] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

export const HOOK_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED"] as const;
export type HookStatus = (typeof HOOK_STATUSES)[number];

export interface StackKey {
  readonly team: string;
  readonly stackId: string;
}

/** Who holds a stack's lock: a run number and the execution running it. */
export interface LockHolder {
  readonly run: number;
  readonly execution: string;
  /** ISO time the lock was taken. */
  readonly since: string;
}

export interface StackRecord extends StackKey {
  /**
   * The stack's name, unique per team and member among stacks not destroyed (`up` FILE converges
   * the stack of that name). Absent on stacks made before names.
   */
  readonly name?: string;
  readonly member: string;
  readonly status: StackStatus;
  /** Runs so far (1 for the first `up`); each rerun adds one. */
  readonly run: number;
  /** The template text (the store compresses it). */
  readonly templateYaml: string;
  readonly templateFile: string;
  readonly templateHash: string;
  /** The member's non-secret data for `$koding.userdata.*`. */
  readonly userdata: Readonly<Record<string, string>>;
  /** Providers whose servers run on `sim` instead (all of them for `up --simulate`). */
  readonly simulate: readonly string[];
  readonly lock?: LockHolder;
  readonly createdAt: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly error?: string;
  /**
   * The team template version the stack is on, or converging to while an update runs (`up`
   * publishes its file as a version of the template named after the file). Absent on stacks made
   * from a YAML body or before versions were recorded.
   */
  readonly template?: TemplateRef;
  /**
   * Hash of the request that made the stack (API body, signup event): a retry with the same
   * Idempotency-Key or event id but a different request is refused instead of ignored.
   */
  readonly requestHash?: string;
  /**
   * Set by OnFailure: the failed execution that a console Redrive may resume. `armed` once the
   * execution has ended; the next pass through RunFailed is then a redrive.
   */
  readonly redrive?: { readonly execution: string; readonly armed: boolean };
  /** The compiled template's settings, recorded by Prepare: what OnFailure and a redrive need. */
  readonly settings?: RunSettings;
  /** When `settings.ttl` destroys the stack (ISO; createdAt + ttl, pushed back by `extend`). */
  readonly expiresAt?: string;
  /** When `settings.auto_stop` stops the stack (ISO; its last provision or start + auto_stop). */
  readonly stopsAt?: string;
  /** When the stack was last stopped (ISO). */
  readonly stoppedAt?: string;
  /**
   * When a destroyed stack's records go (epoch seconds): the table's TTL attribute `purgeAt`, set
   * on every item of the stack when it becomes DESTROYED (see `expireStack`).
   */
  readonly purgeAt?: number;
}

/** A run's settings, compiled from the template's `settings`. */
export interface RunSettings {
  readonly onFailure: "keep" | "rollback";
  readonly maxParallel: number;
  /** Seconds a server may take from create to ready. */
  readonly serverTimeout: number;
  /** Seconds a server may wait for its dependencies: the longest chain before it, at most. */
  readonly waitTimeout: number;
  /** `settings.ttl`: the stack is destroyed this many seconds after its creation. */
  readonly ttlSeconds?: number;
  /** `settings.auto_stop`: the stack is stopped this many seconds after its last start. */
  readonly autoStopSeconds?: number;
}

/**
 * What every task of a run needs of its stack besides its own spec, copied by Prepare onto each
 * server and hook record so that a task reads only its own item.
 */
export interface RunContext {
  readonly member: string;
  /** Every secret the stack uses, by name only: read at the last moment, and masked. */
  readonly secrets: SecretNames;
}

export interface TemplateRef {
  readonly name: string;
  readonly version: number;
}

/** One published version of a team's template. Versions are numbered from 1 and never change. */
export interface TemplateVersion {
  readonly team: string;
  readonly name: string;
  readonly version: number;
  readonly yaml: string;
  /** sha256 of the YAML, hex. */
  readonly hash: string;
  readonly author: string;
  readonly createdAt: string;
}

/** A team's template: its newest version and whether it is the team's default for new members. */
export interface TemplateSummary {
  readonly team: string;
  readonly name: string;
  readonly latest: number;
  readonly hash: string;
  readonly updatedAt: string;
  /** The version new members get, when this template is the team's default. */
  readonly defaultVersion?: number;
}

/** A member's non-secret data, for `$koding.userdata.*`. */
export interface MemberRecord {
  readonly team: string;
  readonly member: string;
  readonly data: Readonly<Record<string, string>>;
  readonly updatedAt: string;
  /** Set by a `Team Member Left` event: when, and the event's id. */
  readonly left?: { readonly at: string; readonly event: string };
}

/**
 * Which providers a team's templates may use, as a team admin set it. A team without one may use
 * every provider the deployment offers.
 */
export interface TeamPolicyRecord {
  readonly team: string;
  /** Provider names (`aws`, `local`, `sim`); empty: the team may create no stack. */
  readonly providers: readonly string[];
  /** What a `Team Member Left` event does to the member's stacks (absent: destroy). */
  readonly onMemberLeft?: OnMemberLeft;
  readonly updatedAt: string;
  /** The admin who set it. */
  readonly updatedBy: string;
}

export const ON_MEMBER_LEFT = ["destroy", "stop", "keep"] as const;
export type OnMemberLeft = (typeof ON_MEMBER_LEFT)[number];

/** An event teamstack sends out (EventBridge in AWS, the events log locally). */
export interface OutboundEvent {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  readonly time: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface ServerRecord extends StackKey {
  readonly name: string;
  readonly provider: string;
  readonly type: string;
  readonly status: ServerStatus;
  /** Every server this one waits for. */
  readonly deps: readonly string[];
  /** Servers of the current run that wait for this one. */
  readonly dependents: readonly string[];
  /** Dependencies not ready yet in the current run. */
  readonly pending: readonly string[];
  /** Task token of the current run's WaitForDependencies, once it started waiting. */
  readonly waitToken?: string;
  /** Set when a dependency failed: this server is skipped. */
  readonly failedDep?: string;
  /** Task token of WaitUntilReady. */
  readonly readyToken?: string;
  /** The run this record was last prepared for. */
  readonly run: number;
  /** Creation attempts so far; the idempotency token is derived from it. */
  readonly attempt: number;
  /** Recorded before the provider is asked to create, so a lost response is recovered. */
  readonly idempotencyToken?: string;
  /** The run that created the current server (for rollback). */
  readonly createdRun?: number;
  readonly artifacts?: Readonly<Record<string, string>>;
  readonly startedAt?: string;
  readonly readyAt?: string;
  readonly error?: string;
  /**
   * The server's compiled spec, written by Prepare (for a server ready from an earlier run: the
   * spec it was created from). Absent only on records written before specs were stored.
   */
  readonly spec?: CompiledServer;
  readonly context?: RunContext;
  /**
   * Set by an update's Prepare: the server as it exists was made from another spec (or from
   * artifacts that change), and CreateServer destroys it before creating it from `spec`. Holds
   * where that copy is (its provider and placement options: an update may change both). Stays
   * until the new copy's attempt is recorded, so that a crash in between replaces it still.
   */
  readonly replace?: {
    readonly provider: string;
    readonly options?: Readonly<Record<string, unknown>>;
  };
  /**
   * Set by an update's Prepare: the server is no longer in the template; the run's RemoveServers
   * destroys it (dependents first) and its record is then deleted.
   */
  readonly removed?: true;
}

export interface HookRecord extends StackKey {
  /** pre, post and destroy hooks as the template lists them; undo steps (src/core/undo.ts). */
  readonly phase: HookPhase;
  readonly index: number;
  readonly type: string;
  readonly status: HookStatus;
  readonly run: number;
  readonly output?: string;
  readonly exitCode?: number;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly error?: string;
  /** The hook's compiled spec, written by Prepare (PENDING) for every hook the run will run. */
  readonly spec?: CompiledHook;
  readonly context?: RunContext;
}

export interface StackEvent {
  /** Increasing per stack. */
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly server?: string;
  readonly message: string;
}

/** Who sends a parked wait token back, and how. */
export type WaitRelease =
  | { readonly token: string; readonly outcome: "success" }
  | { readonly token: string; readonly outcome: "failure"; readonly failedDep: string };

/** The record after a wait update; `release` is present for exactly one caller per wait token. */
export interface WaitUpdate extends ServerRecord {
  readonly release?: WaitRelease;
}

/**
 * A credential a team registered: the role reference below (the provider whose credential schema
 * says `roleReference`), or a credential for any other provider (`kind: "fields"`).
 */
export type TeamCredentialRecord = CredentialRecord | FieldsCredentialRecord;

/**
 * A team's credential for a provider, as its credential schema declares it: the non-secret fields
 * in the record, the secret ones through the Secrets port (scope `{ team, credential: name }`),
 * of which the record keeps only the names.
 */
export interface FieldsCredentialRecord {
  readonly kind: "fields";
  readonly team: string;
  readonly name: string;
  /** The provider's canonical name. */
  readonly provider: string;
  /** The non-secret fields given, by name. */
  readonly fields: Readonly<Record<string, string>>;
  /** The names of the secret fields given, sorted (their values are in the Secrets port). */
  readonly secretFields: readonly string[];
  readonly updatedAt: string;
}

/**
 * How teamstack reaches a team's cloud account for the `aws` provider: a cross-account role it
 * assumes with an external id (preferred), or access keys kept in a Secrets Manager secret. Only
 * references are stored: never a key, never a session.
 */
export type CredentialRecord = CredentialCommon &
  (
    | { readonly kind: "role"; readonly roleArn: string; readonly externalId: string }
    | {
        readonly kind: "keys";
        /** A secret whose value is `{"accessKeyId": "...", "secretAccessKey": "..."}`. */
        readonly secretArn: string;
      }
  );

export interface CredentialCommon {
  readonly team: string;
  /** The name templates give in a server's `credential` option (`default` when they give none). */
  readonly name: string;
  /** Where servers go unless a server's `region` option says otherwise. */
  readonly region: string;
  /**
   * Instance profile (name or ARN) every server gets: SSM Run Command (`run_script`) needs one
   * with AmazonSSMManagedInstanceCore. Absent: servers get none and `run_script` cannot reach them.
   */
  readonly instanceProfile?: string;
  readonly updatedAt: string;
}

/** Fields of a record that a patch may change (undefined removes the attribute). */
export type Patch<T> = { -readonly [K in keyof T]?: T[K] | undefined };

/**
 * A stack's runs: the stack record and its lock, its servers with the wait protocol, its hooks,
 * artifacts and events. What the task functions, `status` and the stack commands need.
 */
export interface StackRuns {
  /** Creates a stack; false when one with this id exists already. */
  createStack(stack: StackRecord): Promise<boolean>;
  /**
   * Claims a member's stack name for a stack: atomically, so two creates with one name make one
   * stack. A name whose stack is destroyed (or gone) may be claimed again. Returns the id of the
   * stack holding the name afterwards: `stackId` when the claim succeeded.
   */
  claimStackName(team: string, member: string, name: string, stackId: string): Promise<string>;
  getStack(key: StackKey): Promise<StackRecord | undefined>;
  /** Stacks of a team, or of every team, newest first. */
  listStacks(team?: string): Promise<StackRecord[]>;
  updateStack(key: StackKey, patch: Patch<Omit<StackRecord, "team" | "stackId">>): Promise<StackRecord>;
  /**
   * Takes the stack's lock for `holder.run`, unless another run holds it. Taking it again for the
   * same run and execution succeeds (a retried Prepare). `steal` takes it from `steal.execution`
   * (a holder known to be dead).
   */
  acquireLock(
    key: StackKey,
    holder: LockHolder,
    steal?: { readonly execution: string },
  ): Promise<{ readonly acquired: true } | { readonly acquired: false; readonly holder: LockHolder }>;
  /** Releases the lock if `execution` holds it; returns whether it did. */
  releaseLock(key: StackKey, execution: string): Promise<boolean>;

  putServer(server: ServerRecord): Promise<void>;
  getServer(key: StackKey, name: string): Promise<ServerRecord | undefined>;
  /** Deletes a server's record (one removed from the template and destroyed); absent is fine. */
  deleteServer(key: StackKey, name: string): Promise<void>;
  listServers(key: StackKey): Promise<ServerRecord[]>;
  updateServer(
    key: StackKey,
    name: string,
    patch: Patch<Omit<ServerRecord, "team" | "stackId" | "name">>,
  ): Promise<ServerRecord>;
  /** Atomically records the wait token of `run` (ignored for an older run); returns the record afterwards. */
  setWaitToken(key: StackKey, name: string, run: number, token: string): Promise<WaitUpdate>;
  /** Atomically removes `dep` from `pending` (idempotent; ignored for an older run). */
  removePending(key: StackKey, name: string, run: number, dep: string): Promise<WaitUpdate>;
  /** Atomically records that `dep` failed, first one wins (ignored for an older run). */
  setFailedDep(key: StackKey, name: string, run: number, dep: string): Promise<WaitUpdate>;

  putHook(hook: HookRecord): Promise<void>;
  listHooks(key: StackKey): Promise<HookRecord[]>;

  putArtifacts(key: StackKey, artifacts: Readonly<Record<string, string>>): Promise<void>;
  getArtifacts(key: StackKey): Promise<Readonly<Record<string, string>>>;

  appendEvent(key: StackKey, event: Omit<StackEvent, "seq" | "at">): Promise<StackEvent>;
  listEvents(key: StackKey, afterSeq?: number): Promise<StackEvent[]>;

  /** Removes every item of a stack (after `down`, when asked to forget it). */
  deleteStack(key: StackKey): Promise<void>;
  /**
   * Sets the TTL attribute `purgeAt` (epoch seconds) on every item of a stack, the stack item last,
   * or removes it (undefined): DynamoDB deletes the items once it has passed.
   */
  expireStack(key: StackKey, purgeAt: number | undefined): Promise<void>;
}

/** A team's published templates: numbered versions, and the team's default for new members. */
export interface TemplateCatalog {
  /**
   * Publishes a template version: the next number after the newest, atomically (two concurrent
   * publishes get two numbers). Publishing the same YAML as the newest version returns that
   * version instead of adding one.
   */
  putTemplateVersion(
    version: Omit<TemplateVersion, "version">,
  ): Promise<{ readonly version: TemplateVersion; readonly created: boolean }>;
  /** The given version, or the newest when `version` is absent. */
  getTemplateVersion(team: string, name: string, version?: number): Promise<TemplateVersion | undefined>;
  /** Every version of a template, oldest first, YAML included. */
  listTemplateVersions(team: string, name: string): Promise<TemplateVersion[]>;
  listTemplates(team: string): Promise<TemplateSummary[]>;
  /** Makes a template (at a version, or its newest at the time) the team's default for new members. */
  setDefaultTemplate(team: string, ref: TemplateRef): Promise<void>;
  getDefaultTemplate(team: string): Promise<TemplateRef | undefined>;
}

/** Who is in a team and what the team set: members' data, the provider policy, credentials. */
export interface TeamDirectory {
  putMember(member: MemberRecord): Promise<void>;
  getMember(team: string, member: string): Promise<MemberRecord | undefined>;

  /** Sets (or replaces) a team's provider policy. */
  putTeamPolicy(policy: TeamPolicyRecord): Promise<void>;
  /** The team's provider policy; undefined when no admin has set one. */
  getTeamPolicy(team: string): Promise<TeamPolicyRecord | undefined>;

  /** Registers (or replaces) a team's credential. */
  putCredential(credential: TeamCredentialRecord): Promise<void>;
  getCredential(team: string, name: string): Promise<TeamCredentialRecord | undefined>;
}

/** Everyone and everything registered in a team, for the console (one Query on the team's partition each). */
export interface TeamListing {
  /** The team's members with their non-secret data, by name (those who left included). */
  listMembers(team: string): Promise<MemberRecord[]>;
  /** The team's credentials, by name. */
  listCredentials(team: string): Promise<TeamCredentialRecord[]>;
  /** Removes a team's credential (an admin's act, as listing is); false when there was none. */
  removeCredential(team: string, name: string): Promise<boolean>;
}

/**
 * The record of outbound events, per team (the one each event's `detail.team` names), kept 30
 * days: the local runtime publishes events here only, AWS here and onto EventBridge; the console's
 * Events page and `teamstack events list` read it.
 */
export interface OutboundEventLog {
  /** Records an outbound event (idempotent on its id). */
  putOutboundEvent(event: OutboundEvent): Promise<void>;
  /**
   * A team's outbound events, oldest first; without a team, every team's (a scan of the whole
   * table: for `teamstack events list` on one machine).
   */
  listOutboundEvents(team?: string): Promise<OutboundEvent[]>;
}

/**
 * The whole store: every part above. Callers that need one part take that part; the aws
 * provider's bootstrap leases are its own port (src/providers/aws/leases.ts).
 */
export type Store = StackRuns & TemplateCatalog & TeamDirectory & TeamListing & OutboundEventLog;

/** What the task functions use of the store: everything but the template catalog. */
export type TaskStore = StackRuns & TeamDirectory & Pick<TeamListing, "listCredentials"> & OutboundEventLog;
