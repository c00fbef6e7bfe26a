import { createHash, randomBytes } from "node:crypto";
import { type CallbackTarget, verifyCallbackSignature } from "../adapters/callback-signing.ts";
import type { ChangeSet } from "../core/change-set.ts";
import { checkCredential } from "../core/credentials.ts";
import { TeamstackError } from "../core/errors.ts";
import type { ProviderName, ServerSpec, Template } from "../core/template.ts";
import { parseExpiry } from "../core/validate/structure.ts";
import { loadTemplate } from "../core/validate.ts";
import {
  type CredentialView,
  registerCredential,
  removeCredential,
} from "../credentials/team-credentials.ts";
import { changeSetOf, versionOf } from "../pipeline/changes.ts";
import { TemplateInvalidError, UserDataFailedError } from "../pipeline/errors.ts";
import { extendExpiry } from "../pipeline/expiry.ts";
import { type PowerAction, powerRefusal } from "../pipeline/power.ts";
import { runSecrets } from "../pipeline/secrets.ts";
import { matchesFilter, type StackFilter } from "../pipeline/stack-filter.ts";
import {
  isStopped,
  type StackStatusView,
  shownStatus,
  stackStatus,
  withLiveness,
} from "../pipeline/status.ts";
import { compileStackRecord, missingUserdata, stackAtVersion, stackTemplate } from "../pipeline/template.ts";
import type { EventPublisher, Executions, TaskTokens } from "../ports/orchestration.ts";
import type { Provider } from "../ports/provider.ts";
import type { Rollouts } from "../ports/rollouts.ts";
import type { ExpirySchedules } from "../ports/schedules.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { ServerLogs } from "../ports/server-logs.ts";
import type {
  RunContext,
  StackEvent,
  StackKey,
  StackRecord,
  StackRuns,
  TeamDirectory,
  TeamPolicyRecord,
  TemplateCatalog,
  TemplateRef,
} from "../ports/store.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { type ConsoleDeps, ConsoleService } from "./console.ts";
import { ApiError, badRequest, conflict, forbidden, notFound, unprocessable } from "./errors.ts";
import {
  checkOnMemberLeft,
  MEMBER_LEFT,
  type MemberLeftEvent,
  type MemberLeftResult,
  offboardMember,
} from "./offboard.ts";
import {
  checkPolicyProviders,
  effectivePolicy,
  type ProviderOffer,
  providerRefusals,
  usableProviders,
} from "./policy.ts";
import { RolloutService, type StackUpdater } from "./rollouts.ts";
import {
  type ExecRequest,
  execOnServer,
  hookLogs,
  keepReadyOutput,
  type LogQuery,
  serverLogs,
} from "./server-access.ts";

/** Who is asking, from the token's claims. */
export interface Caller {
  readonly team: string;
  readonly member: string;
  readonly admin: boolean;
}

/** Starts state machine executions: Step Functions in AWS, the local engine on one machine. */
export interface Orchestrator {
  /**
   * Starts `machine` for a stack under `name`. Starting a name that was started already starts
   * nothing (as StartExecution with the same name and input).
   */
  start(
    machine: "provision" | "destroy" | "power",
    key: StackKey,
    name: string,
    /** More of the execution's input besides `{team, stackId}` (power: `{action}`). */
    input?: Readonly<Record<string, unknown>>,
  ): Promise<void>;
}

export interface ServiceDeps extends ConsoleDeps {
  readonly store: StackRuns & TemplateCatalog & TeamDirectory;
  readonly orchestrator: Orchestrator;
  readonly executions: Executions;
  /** Providers that can create servers here; others must be simulated. */
  readonly providers: readonly ProviderName[];
  /**
   * Checks, before a stack is created or rerun, what would make its servers fail (the providers'
   * preflights: sandbox support, a registered credential); throws what is missing.
   */
  readonly preflight?: (
    team: string,
    servers: readonly ServerSpec[],
    simulate: readonly string[],
  ) => Promise<void>;
  /**
   * Whether members (not only admins) may use `local`, whose servers run on this machine
   * (`teamstack serve --allow-local`). Default false.
   */
  readonly localForMembers?: boolean;
  /** Member secrets count as given userdata (their values are read only by the tasks). */
  readonly secrets?: Secrets;
  /**
   * The one-time schedules of stacks' ttl and auto_stop, moved by `extend` (EventBridge Scheduler
   * in AWS); absent where `teamstack serve`'s scheduler reads the stacks' records itself.
   */
  readonly schedules?: ExpirySchedules;
  /** Settles the WaitUntilReady tokens of servers that report their readiness (POST /callbacks/ready/...). */
  readonly tokens?: TaskTokens;
  /** The secret readiness callbacks are signed with, or a loader that reads it on first use. */
  readonly callbackSecret?: Uint8Array | (() => Promise<Uint8Array>);
  /** Rollouts' records (src/store/dynamo/rollouts.ts); without them, the rollout routes answer 501. */
  readonly rollouts?: Rollouts;
  /** Where the service's own outbound events go (`Rollout Finished`). */
  readonly events?: EventPublisher;
  /** Servers' and hooks' logs (src/api/server-access.ts); without them, the logs routes answer 501. */
  readonly logs?: ServerLogs;
  /** The provider of a server's record, for exec; without it, exec answers 501. */
  readonly provider?: (name: string) => Provider;
  /** What rollouts update stacks with (tests give a fake); default: this service's update. */
  readonly updater?: StackUpdater;
  readonly now: () => Date;
}

/** What an instance reports when its user_data has finished. */
export interface ReadyReport {
  readonly exitCode: number;
  /** The end of user_data's output. */
  readonly output?: string;
}

export interface CreateStackRequest {
  /** A team template's name; its newest version unless `version` says which. */
  readonly template?: string;
  readonly version?: number;
  readonly yaml?: string;
  readonly member: string;
  /** The stack's name, unique per team and member (default: the template's name, or for `yaml`, the stack's id). */
  readonly name?: string;
  readonly userdata?: Readonly<Record<string, string>>;
  /** Providers to run on the simulator (`sim`), or true for all. */
  readonly simulate?: boolean | readonly string[];
}

/** What `.../update` takes: the template version to go to (default: the newest). */
export interface UpdateRequest {
  readonly version?: number;
}

export interface SignupEvent {
  readonly id: string;
  readonly source: string;
  readonly "detail-type": string;
  readonly detail: {
    readonly team: string;
    readonly member: string;
    readonly userdata?: Readonly<Record<string, string>>;
  };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** JSON with sorted keys, so equal requests hash equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * What the HTTP API and the signup events do, over the store and an orchestrator. Authorisation
 * is checked here, so every door applies the same rules.
 */
export class StackService {
  readonly #d: ServiceDeps;
  #rollouts: RolloutService | undefined;
  #console: ConsoleService | undefined;
  constructor(deps: ServiceDeps) {
    this.#d = deps;
  }

  /** What the web console asks besides stacks and templates (src/api/console.ts), on this service's deps. */
  get console(): ConsoleService {
    this.#console ??= new ConsoleService(this.#d);
    return this.#console;
  }

  /** Rollouts of a template's version to the team's stacks (src/api/rollouts.ts), on this service's deps. */
  get rollouts(): RolloutService {
    const rollouts = this.#d.rollouts;
    if (!rollouts) throw new ApiError(501, "NotImplemented", "rollouts are not available in this deployment");
    this.#rollouts ??= new RolloutService({
      store: this.#d.store,
      rollouts,
      // As the system, for the admin who started the rollout (the stack's event names the rollout).
      updater: this.#d.updater ?? {
        update: (team, stackId, version, by) =>
          this.update({ team, member: by, admin: true }, team, stackId, { version }),
      },
      ...(this.#d.events ? { events: this.#d.events } : {}),
      now: this.#d.now,
    });
    return this.#rollouts;
  }

  #team(caller: Caller, team: string): void {
    if (caller.team !== team) throw forbidden(`your token is for team \`${caller.team}\`, not \`${team}\``);
  }

  #admin(caller: Caller, team: string, what: string): void {
    this.#team(caller, team);
    if (!caller.admin) throw forbidden(`${what} needs a team admin's token`);
  }

  #self(caller: Caller, team: string, member: string): void {
    this.#team(caller, team);
    if (!caller.admin && caller.member !== member) {
      throw forbidden(
        `member \`${caller.member}\` cannot act for member \`${member}\`; that needs an admin's token`,
      );
    }
  }

  async publishTemplate(caller: Caller, team: string, name: string, yaml: string) {
    this.#admin(caller, team, "publishing a template");
    const { template, problems } = loadTemplate(yaml, `${name}.yaml`, PROVIDERS);
    if (!template) throw unprocessable(`template \`${name}\` has ${problems.length} problem(s)`, problems);
    checkTemplateSize(template);
    const { version, created } = await this.#d.store.putTemplateVersion({
      team,
      name,
      yaml,
      hash: sha256(yaml),
      author: caller.member,
      createdAt: this.#d.now().toISOString(),
    });
    return { created, body: { name, version: version.version, hash: version.hash } };
  }

  async listTemplates(caller: Caller, team: string) {
    this.#team(caller, team);
    return (await this.#d.store.listTemplates(team)).map((t) => ({
      name: t.name,
      latest: t.latest,
      hash: t.hash,
      updatedAt: t.updatedAt,
      default: t.defaultVersion !== undefined,
      ...(t.defaultVersion !== undefined ? { defaultVersion: t.defaultVersion } : {}),
    }));
  }

  async getTemplate(caller: Caller, team: string, name: string, version?: number) {
    this.#team(caller, team);
    if (version !== undefined) return this.#templateText(team, name, version);
    const versions = await this.#d.store.listTemplateVersions(team, name);
    if (versions.length === 0) throw notFound(`team \`${team}\` has no template \`${name}\``);
    const def = await this.#d.store.getDefaultTemplate(team);
    return {
      name,
      ...(def?.name === name ? { defaultVersion: def.version } : {}),
      versions: versions.map((v) => ({
        version: v.version,
        hash: v.hash,
        author: v.author,
        createdAt: v.createdAt,
      })),
    };
  }

  /** One version of a template with its YAML (the console's editor and diff read it). */
  async #templateText(team: string, name: string, version: number) {
    const v = await this.#d.store.getTemplateVersion(team, name, version);
    if (!v) {
      const newest = await this.#d.store.getTemplateVersion(team, name);
      throw notFound(
        newest
          ? `template \`${name}\` of team \`${team}\` has no version ${version}; its newest is ${newest.version}`
          : `team \`${team}\` has no template \`${name}\``,
      );
    }
    return { name, version: v.version, hash: v.hash, author: v.author, createdAt: v.createdAt, yaml: v.yaml };
  }

  async setDefault(caller: Caller, team: string, name: string, version: number | undefined) {
    this.#admin(caller, team, "choosing the default template");
    const v = await this.#d.store.getTemplateVersion(team, name, version);
    if (!v) {
      throw notFound(
        `team \`${team}\` has no template \`${name}\`${version !== undefined ? ` at version ${version}` : ""}`,
      );
    }
    await this.#d.store.setDefaultTemplate(team, { name, version: v.version });
    return { name, version: v.version };
  }

  /**
   * Registers (or replaces) a team's credential for a provider, checked against the provider's
   * credential schema (`provider` absent: the provider keeping the role reference, as before).
   * Secret fields go to the Secrets port, never into the record or the answer.
   */
  async putCredential(caller: Caller, team: string, name: string, body: Readonly<Record<string, unknown>>) {
    this.#admin(caller, team, "registering a credential");
    const checked = checkCredential(PROVIDERS, body);
    if (!checked.ok) {
      throw badRequest(`credential \`${name}\`: ${checked.problems.join("; ")}`);
    }
    const provider = checked.credential.provider;
    if (provider.credentials.roleReference !== true && !this.#d.providers.includes(provider.name)) {
      // Its servers cannot run here, so its credential would be kept for nothing (and in AWS the
      // API may not write a credential's secrets for a provider no task function runs).
      const where = provider.runsIn.includes("local-runtime")
        ? "it runs where teamstack runs on one machine (`teamstack serve`, `teamstack up`)"
        : `it runs in: ${provider.runsIn.join(", ")}`;
      throw unprocessable(
        `credential \`${name}\`: the ${provider.name} provider does not run on this deployment (${where}), so its credentials cannot be used here`,
      );
    }
    const secrets = this.#d.secrets;
    if (!secrets && checked.credential.provider.credentials.roleReference !== true) {
      throw new ApiError(
        501,
        "NotImplemented",
        "credentials with secret fields need a secrets store, which this deployment lacks",
      );
    }
    const view = await registerCredential(
      { store: this.#d.store, ...(secrets ? { secrets } : {}), catalog: PROVIDERS, now: this.#d.now },
      team,
      name,
      checked.credential,
    );
    return credentialAnswer(view, checked.credential.provider.credentials.roleReference === true);
  }

  /** Removes a team's credential and its secret fields. */
  async removeCredential(caller: Caller, team: string, name: string) {
    this.#admin(caller, team, "removing a credential");
    const directory = this.#d.directory;
    if (!directory) throw new ApiError(501, "NotImplemented", "removing credentials is not available here");
    const removed = await removeCredential(
      {
        store: {
          getCredential: (t, n) => this.#d.store.getCredential(t, n),
          removeCredential: (t, n) => directory.removeCredential(t, n),
        },
        ...(this.#d.secrets ? { secrets: this.#d.secrets } : {}),
        catalog: PROVIDERS,
      },
      team,
      name,
    );
    if (!removed) throw notFound(`team \`${team}\` has no credential \`${name}\``);
    return { name, removed: true };
  }

  get #offer(): ProviderOffer {
    return {
      catalog: PROVIDERS,
      providers: this.#d.providers,
      localForMembers: this.#d.localForMembers === true,
    };
  }

  #policyView(team: string, record: TeamPolicyRecord | undefined) {
    const offer = this.#offer;
    const policy = effectivePolicy(offer, record);
    return {
      team,
      providers: policy.providers,
      default: policy.isDefault,
      onMemberLeft: record?.onMemberLeft ?? "destroy",
      ...(record ? { updatedAt: record.updatedAt, updatedBy: record.updatedBy } : {}),
      offered: offer.providers,
      usable: {
        admins: usableProviders(offer, policy, true),
        members: usableProviders(offer, policy, false),
      },
    };
  }

  /** The team's provider policy (or the default), and what admins and members may use here. */
  async getPolicy(caller: Caller, team: string) {
    this.#team(caller, team);
    return this.#policyView(team, await this.#d.store.getTeamPolicy(team));
  }

  /**
   * Sets which providers the team's templates may use. Names are checked against the known
   * providers; a provider this deployment does not offer may be listed (it stays unusable here).
   */
  async putPolicy(
    caller: Caller,
    team: string,
    body: { readonly providers: readonly string[]; readonly on_member_left?: string },
  ) {
    this.#admin(caller, team, "setting the team's provider policy");
    const checked = checkPolicyProviders(PROVIDERS, body.providers);
    if (!checked.ok) throw badRequest(checked.problems.join("; "));
    // Absent: what was set stays (changing the providers must not turn offboarding back to destroy).
    const onMemberLeft =
      body.on_member_left !== undefined
        ? checkOnMemberLeft(body.on_member_left)
        : (await this.#d.store.getTeamPolicy(team))?.onMemberLeft;
    const record: TeamPolicyRecord = {
      team,
      providers: checked.providers,
      ...(onMemberLeft ? { onMemberLeft } : {}),
      updatedAt: this.#d.now().toISOString(),
      updatedBy: caller.member,
    };
    await this.#d.store.putTeamPolicy(record);
    return this.#policyView(team, record);
  }

  /**
   * Refuses servers the team's policy or the caller's role does not allow (403), then servers this
   * deployment cannot create (422, with the `simulate` that would run them).
   */
  async #checkProviders(
    team: string,
    admin: boolean,
    servers: readonly ServerSpec[],
    simulate: readonly string[],
    what: string,
  ): Promise<void> {
    const offer = this.#offer;
    const policy = effectivePolicy(offer, await this.#d.store.getTeamPolicy(team));
    const { forbidden: refused, unavailable } = providerRefusals(servers, simulate, offer, policy, {
      team,
      admin,
    });
    if (refused.length > 0) throw forbidden(`${what}: ${refused.join("; ")}`);
    if (unavailable.length > 0) {
      throw unprocessable(
        `${unavailable.map((s) => `${s.name} (${s.provider})`).join(", ")}: not available here; pass "simulate": ["${unavailable[0]?.provider}"] to run ${unavailable.length === 1 ? "it" : "them"} on ${PROVIDERS.simulator?.name ?? "a simulator"}`,
      );
    }
    try {
      await this.#d.preflight?.(team, servers, simulate);
    } catch (error) {
      if (error instanceof TeamstackError) throw unprocessable(`${what}: ${error.message}`);
      throw error;
    }
  }

  async putMember(caller: Caller, team: string, member: string, data: Readonly<Record<string, string>>) {
    this.#self(caller, team, member);
    await this.#d.store.putMember({ team, member, data, updatedAt: this.#d.now().toISOString() });
    return { member, data };
  }

  /** Resolves the template a request names: a team template's newest version, or inline YAML. */
  async #templateOf(
    team: string,
    req: CreateStackRequest,
  ): Promise<{ yaml: string; file: string; ref?: TemplateRef }> {
    if (req.yaml !== undefined) return { yaml: req.yaml, file: "request.yaml" };
    const name = req.template as string;
    const v = await this.#d.store.getTemplateVersion(team, name, req.version);
    if (!v) {
      throw notFound(
        `team \`${team}\` has no template \`${name}\`${req.version !== undefined ? ` at version ${req.version}` : ""}`,
      );
    }
    return { yaml: v.yaml, file: `${name}.yaml`, ref: { name, version: v.version } };
  }

  /**
   * Creates a stack and starts provisioning it. The same `idempotencyId` (an Idempotency-Key or an
   * event id) with the same request returns the same stack and starts nothing new.
   */
  async createStack(caller: Caller, team: string, req: CreateStackRequest, idempotencyId?: string) {
    return this.#create(caller, team, req, idempotencyId, caller.admin);
  }

  /** `asAdmin`: whether the providers offered to admins only may be used (see {@link ProviderOffer}). */
  async #create(
    caller: Caller,
    team: string,
    req: CreateStackRequest,
    idempotencyId: string | undefined,
    asAdmin: boolean,
    onNameTaken: "refuse" | "existing" = "refuse",
  ): Promise<{ stackId: string; executionName: string | null }> {
    this.#self(caller, team, req.member);
    if ((req.template === undefined) === (req.yaml === undefined)) {
      throw badRequest("give exactly one of `template` (a template's name) or `yaml` (the template itself)");
    }
    const requestHash = sha256(canonical({ team, ...req }));
    const stackId =
      idempotencyId !== undefined
        ? `st-${sha256(`${team}\u0000${idempotencyId}`).slice(0, 16)}`
        : `st-${randomBytes(8).toString("hex")}`;
    const executionName = `${stackId}-create`;
    const existing = await this.#d.store.getStack({ team, stackId });
    if (existing) return this.#replay(existing, requestHash, executionName);

    const { yaml, file, ref } = await this.#templateOf(team, req);
    const { template, problems } = loadTemplate(yaml, file, PROVIDERS);
    if (!template) throw unprocessable(`the template has ${problems.length} problem(s)`, problems);
    checkTemplateSize(template);
    const simulate = req.simulate === true ? [...PROVIDERS.names] : [...(req.simulate || [])];
    await this.#checkProviders(team, asAdmin, template.servers, simulate, "refused");
    const member = await this.#d.store.getMember(team, req.member);
    const userdata = { ...(member?.data ?? {}), ...(req.userdata ?? {}) };
    const missing = await missingUserdata(template, userdata, this.#d.secrets, { team, member: req.member });
    if (missing.length > 0) {
      throw unprocessable(
        `the template uses ${missing.map((k) => `$koding.userdata.${k}`).join(", ")}, which member \`${req.member}\` has not given (PUT /teams/${team}/members/${req.member}, or pass userdata)`,
      );
    }
    // A template's stacks are named after it by default; a stack of an inline YAML body, after itself.
    const name = req.name ?? ref?.name ?? stackId;
    const holder = await this.#d.store.claimStackName(team, req.member, name, stackId);
    if (holder !== stackId) {
      if (onNameTaken === "existing") return { stackId: holder, executionName: null };
      throw conflict(
        `member \`${req.member}\` already has a stack named \`${name}\` (${holder}); update it (POST /teams/${team}/stacks/${holder}/update), or give the new one another "name"`,
      );
    }
    const now = this.#d.now().toISOString();
    const stack: StackRecord = {
      team,
      stackId,
      name,
      member: req.member,
      status: "RUNNING",
      run: 0,
      templateYaml: yaml,
      templateFile: file,
      templateHash: sha256(yaml),
      userdata,
      simulate,
      createdAt: now,
      startedAt: now,
      requestHash,
      ...(ref ? { template: ref } : {}),
    };
    if (!(await this.#d.store.createStack(stack))) {
      // Another request with the same key won the race: answer as it did.
      const winner = await this.#d.store.getStack({ team, stackId });
      if (winner) return this.#replay(winner, requestHash, executionName);
    }
    await this.#d.orchestrator.start("provision", { team, stackId }, executionName);
    return { stackId, executionName };
  }

  async #replay(existing: StackRecord, requestHash: string, executionName: string) {
    if (existing.requestHash !== requestHash) {
      throw conflict(
        `this idempotency key already made stack \`${existing.stackId}\` from a different request; use a new key`,
      );
    }
    // A stack that never ran was made by a request that died before starting it: start it now.
    // One that ran is left alone (the execution name would dedupe in AWS; locally it may not).
    if (existing.run === 0 && !existing.lock)
      await this.#d.orchestrator.start("provision", existing, executionName);
    return { stackId: existing.stackId, executionName };
  }

  async listStacks(caller: Caller, team: string, filter: StackFilter = {}) {
    this.#team(caller, team);
    const visible = (await this.#d.store.listStacks(team)).filter(
      (s) => caller.admin || s.member === caller.member,
    );
    // A stack whose run is gone shows as INTERRUPTED, as `teamstack list` shows it (and filters on).
    const shown = await Promise.all(visible.map((s) => shownStatus(s, this.#d.executions)));
    const rows = visible
      .map((s, i) => ({ s, status: shown[i] ?? s.status }))
      .filter(({ s, status }) => matchesFilter(s, status, filter));
    return rows.map(({ s, status }) => ({
      stackId: s.stackId,
      name: s.name ?? null,
      member: s.member,
      status,
      template: s.template?.name ?? null,
      version: s.template?.version ?? null,
      startedAt: s.startedAt,
    }));
  }

  async #stack(caller: Caller, team: string, stackId: string): Promise<StackRecord> {
    this.#team(caller, team);
    const stack = await this.#d.store.getStack({ team, stackId });
    if (!stack) throw notFound(`team \`${team}\` has no stack \`${stackId}\``);
    this.#self(caller, team, stack.member);
    return stack;
  }

  async getStack(
    caller: Caller,
    team: string,
    stackId: string,
  ): Promise<StackStatusView & { updateAvailable: boolean }> {
    const stack = await this.#stack(caller, team, stackId);
    const view = await withLiveness(
      (await stackStatus(this.#d.store, stack)) as StackStatusView,
      this.#d.executions,
    );
    let updateAvailable = false;
    if (stack.template) {
      const latest = await this.#d.store.getTemplateVersion(team, stack.template.name);
      updateAvailable = latest !== undefined && latest.version > stack.template.version;
    }
    return { ...view, updateAvailable };
  }

  async #refuseWhileRunning(stack: StackRecord, what: string): Promise<void> {
    if (stack.lock && (await this.#d.executions.isRunning(stack.lock.execution))) {
      throw conflict(
        `cannot ${what} stack \`${stack.stackId}\` while run ${stack.lock.run} (execution ${stack.lock.execution}) is running`,
      );
    }
  }

  async rerun(caller: Caller, team: string, stackId: string) {
    const stack = await this.#stack(caller, team, stackId);
    await this.#refuseWhileRunning(stack, "rerun");
    if (stack.status === "DESTROYED" || stack.status === "DESTROYING") {
      throw conflict(`stack \`${stackId}\` is ${stack.status.toLowerCase()}; create a new one`);
    }
    // A rerun would make a stopped server again from scratch: start it instead.
    if (isStopped(stack.status)) {
      throw conflict(
        `stack \`${stackId}\` is ${stack.status.toLowerCase()}; start it (POST /teams/${team}/stacks/${stackId}/start) before running it again`,
      );
    }
    // The policy of now, not of the stack's creation: a rerun may create servers again. Deleting
    // is always allowed, so a team can clean up what its policy no longer allows.
    await this.#checkProviders(
      team,
      caller.admin,
      stackTemplate(stack, PROVIDERS).servers,
      stack.simulate,
      `cannot rerun stack \`${stackId}\` (DELETE it instead)`,
    );
    const executionName = `${stackId}-run-${stack.run + 1}`;
    await this.#d.orchestrator.start("provision", stack, executionName);
    return { stackId, executionName };
  }

  async destroy(caller: Caller, team: string, stackId: string) {
    const stack = await this.#stack(caller, team, stackId);
    await this.#refuseWhileRunning(stack, "delete");
    const executionName = `${stackId}-destroy-${stack.run + 1}`;
    await this.#d.orchestrator.start("destroy", stack, executionName);
    return { stackId, executionName };
  }

  /** The template version an update goes to, validated, and the stack as it would be on it. */
  async #target(stack: StackRecord, version: number | undefined) {
    const target = await stackAtVersion(this.#d.store, stack, version, PROVIDERS);
    if (target.ok) return target;
    if (target.reason === "no-version") throw notFound(target.message);
    if (target.reason === "invalid") throw unprocessable(target.message, target.problems);
    throw conflict(
      `${target.message}; publish the template (PUT /teams/${stack.team}/templates/NAME) and create the stack from it`,
    );
  }

  async #changeSet(stack: StackRecord, next: StackRecord, to: ChangeSet["to"]): Promise<ChangeSet> {
    let compiled: ReturnType<typeof compileStackRecord>;
    try {
      compiled = compileStackRecord(next, PROVIDERS);
    } catch (error) {
      if (error instanceof TemplateInvalidError) throw unprocessable(error.message);
      throw error;
    }
    const [servers, hooks] = await Promise.all([
      this.#d.store.listServers(stack),
      this.#d.store.listHooks(stack),
    ]);
    return changeSetOf(versionOf(stack), to, servers, hooks, compiled);
  }

  /** What updating a stack to a template version (default: the newest) would do. */
  async changes(caller: Caller, team: string, stackId: string, version?: number): Promise<ChangeSet> {
    const stack = await this.#stack(caller, team, stackId);
    const { next, ref } = await this.#target(stack, version);
    return this.#changeSet(stack, next, ref);
  }

  /**
   * Updates a stack to a template version (default: the newest): records the version on the
   * stack, then runs the provision machine, whose Prepare applies the change set (servers kept,
   * created, replaced, removed). Answers with the change set it starts from.
   */
  async update(caller: Caller, team: string, stackId: string, req: UpdateRequest = {}) {
    const stack = await this.#stack(caller, team, stackId);
    await this.#refuseWhileRunning(stack, "update");
    if (stack.status === "DESTROYED" || stack.status === "DESTROYING") {
      throw conflict(`stack \`${stackId}\` is ${stack.status.toLowerCase()}; create a new one`);
    }
    // An update would make a stopped server it keeps again from scratch: start the stack first.
    if (isStopped(stack.status)) {
      throw conflict(
        `stack \`${stackId}\` is ${stack.status.toLowerCase()}; start it (POST /teams/${team}/stacks/${stackId}/start) before updating it`,
      );
    }
    const { template, next, ref } = await this.#target(stack, req.version);
    checkTemplateSize(template);
    await this.#checkProviders(
      team,
      caller.admin,
      template.servers,
      stack.simulate,
      `cannot update stack \`${stackId}\` to ${ref.name} v${ref.version}`,
    );
    const missing = await missingUserdata(template, stack.userdata, this.#d.secrets, {
      team,
      member: stack.member,
    });
    if (missing.length > 0) {
      throw unprocessable(
        `${ref.name} v${ref.version} uses ${missing.map((k) => `$koding.userdata.${k}`).join(", ")}, which member \`${stack.member}\` has not given`,
      );
    }
    const changes = await this.#changeSet(stack, next, ref);
    await this.#d.store.updateStack(stack, {
      templateYaml: next.templateYaml,
      templateFile: next.templateFile,
      templateHash: next.templateHash,
      template: next.template,
    });
    await this.#d.store.appendEvent(stack, {
      type: "UpdateRequested",
      message: `update to ${ref.name} v${ref.version} (from ${stack.template?.name} v${stack.template?.version}) by ${caller.member}`,
    });
    const executionName = `${stackId}-update-${stack.run + 1}`;
    await this.#d.orchestrator.start("provision", stack, executionName);
    return { stackId, executionName, changes };
  }

  /**
   * Stops (or starts) a stack's servers through the power state machine: 202 with the execution.
   * Refused (409) while a run holds the stack, when the stack is in no state to, or when a server's
   * provider cannot stop and start it (naming each such server).
   */
  async power(caller: Caller, team: string, stackId: string, action: PowerAction) {
    const stack = await this.#stack(caller, team, stackId);
    await this.#refuseWhileRunning(stack, action);
    const refusal = powerRefusal(
      { catalog: PROVIDERS },
      stack,
      await this.#d.store.listServers(stack),
      action,
    );
    if (refusal) throw conflict(refusal);
    const executionName = `${stackId}-${action}-${stack.run + 1}`;
    await this.#d.orchestrator.start("power", stack, executionName, { action });
    return { stackId, executionName };
  }

  /**
   * Pushes back the stack's ttl and auto_stop (those it has) by a duration such as `2h`: from
   * their due time, or from now when that has passed.
   */
  async extend(caller: Caller, team: string, stackId: string, body: { readonly by: string }) {
    const stack = await this.#stack(caller, team, stackId);
    const seconds = parseExpiry(body.by);
    if (seconds === undefined || seconds > 366 * 86_400) {
      throw badRequest(`by \`${body.by}\`: expected a duration such as 30m, 2h or 7d (at most 366d)`);
    }
    if (stack.status === "DESTROYED" || stack.status === "DESTROYING") {
      throw conflict(`stack \`${stackId}\` is ${stack.status.toLowerCase()}; it has nothing to extend`);
    }
    if (stack.expiresAt === undefined && stack.stopsAt === undefined) {
      throw conflict(
        `stack \`${stackId}\` has no expiry to push back: its template sets neither settings.ttl nor settings.auto_stop${stack.status === "STOPPED" ? " (a stopped stack's auto_stop starts again at its next start)" : ""}`,
      );
    }
    const out = await extendExpiry(
      {
        store: this.#d.store,
        events: { publish: async () => undefined },
        now: this.#d.now,
        ...(this.#d.schedules ? { schedules: this.#d.schedules } : {}),
      },
      stack,
      seconds,
    );
    return { stackId, ...out };
  }

  /** A server's log, an attempt's text after a byte offset (src/api/server-access.ts). */
  async logs(caller: Caller, team: string, stackId: string, server: string, query: LogQuery = {}) {
    return serverLogs(this.#d, await this.#stack(caller, team, stackId), server, query);
  }

  /** A hook's log (`post:1`), as `logs` answers a server's. */
  async hookLogs(caller: Caller, team: string, stackId: string, hook: string, query: LogQuery = {}) {
    return hookLogs(this.#d, await this.#stack(caller, team, stackId), hook, query);
  }

  /** Runs a command on a server: members on their own stacks' servers, admins on the team's. */
  async exec(caller: Caller, team: string, stackId: string, server: string, request: ExecRequest) {
    return execOnServer(this.#d, await this.#stack(caller, team, stackId), server, request);
  }

  async events(caller: Caller, team: string, stackId: string): Promise<StackEvent[]> {
    const stack = await this.#stack(caller, team, stackId);
    return this.#d.store.listEvents(stack);
  }

  /**
   * A server's report that its user_data has finished (the readiness callback, like cfn-signal):
   * checks the signature, then settles the server's WaitUntilReady token, success for exit code 0.
   * One-time: once the token is consumed, the same report is refused with 410. A report that
   * arrives before the pipeline waits for it gets 409, and the instance reports again.
   */
  async readyCallback(target: CallbackTarget, signature: string, report: ReadyReport) {
    const { tokens, callbackSecret } = this.#d;
    if (!tokens || !callbackSecret) throw notFound("readiness callbacks are not enabled in this deployment");
    const secret = typeof callbackSecret === "function" ? await callbackSecret() : callbackSecret;
    if (!verifyCallbackSignature(secret, target, signature)) {
      throw forbidden("the callback's signature does not match its team, stack, server and attempt");
    }
    const { team, stackId, server, attempt } = target;
    const key = { team, stackId };
    const rec = await this.#d.store.getServer(key, server);
    if (!rec) throw notFound(`stack \`${stackId}\` of team \`${team}\` has no server \`${server}\``);
    if (rec.attempt !== attempt) {
      throw gone(`attempt ${attempt} of server \`${server}\` was replaced by attempt ${rec.attempt}`);
    }
    const token = rec.readyToken;
    if (!token) {
      if (rec.status === "CREATING" && rec.readyAt === undefined && rec.error === undefined) {
        throw conflict(`server \`${server}\` is not waiting for its readiness yet; report again shortly`);
      }
      throw gone(`the readiness of server \`${server}\` (attempt ${attempt}) has been reported already`);
    }
    const ready = report.exitCode === 0;
    // Sent before the token is consumed: if sending fails, the instance's retry finds it again.
    let reason: string | undefined;
    if (ready) await tokens.sendSuccess(token, { server });
    else {
      const mask = await this.#mask(team, rec.context);
      // Without the Secrets port the output cannot be masked, so it does not travel.
      const tail = report.output && mask ? `\n${mask(report.output.slice(-2000))}` : "";
      reason = `user_data failed on ${server} (exit code ${report.exitCode})`;
      await tokens.sendFailure(token, new UserDataFailedError(reason).name, `${reason}${tail}`);
    }
    await this.#d.store.updateServer(key, server, {
      readyToken: undefined,
      ...(ready ? { readyAt: this.#d.now().toISOString() } : { error: reason }),
    });
    await keepReadyOutput(this.#d.logs, key, server, report, await this.#mask(team, rec.context));
    return { server, ready };
  }

  /**
   * Masks the secrets a stack uses (user_data's output may echo them), named on the server's
   * record by Prepare; undefined when it cannot.
   */
  async #mask(
    team: string,
    context: RunContext | undefined,
  ): Promise<((text: string) => string) | undefined> {
    const secrets = this.#d.secrets;
    if (!secrets || !context) return undefined;
    return (await runSecrets(secrets, team, context)).mask;
  }

  /**
   * Provisions the team's default template for a member who signed up. The event id makes it
   * idempotent: a redelivered event starts nothing new.
   */
  /** A member left the team: the team's on_member_left applied to their stacks (offboard.ts). */
  async memberLeft(event: MemberLeftEvent): Promise<MemberLeftResult> {
    return offboardMember(this.#d, event);
  }

  /** Delivers an inbound event by its detail-type: `Team Member Signed Up` or `Team Member Left`. */
  async deliver(event: InboundEvent) {
    return event["detail-type"] === MEMBER_LEFT ? this.memberLeft(event) : this.signup(event);
  }

  async signup(event: SignupEvent) {
    const { team, member, userdata } = event.detail;
    const def = await this.#d.store.getDefaultTemplate(team);
    if (!def)
      throw unprocessable(
        `team \`${team}\` has no default template (POST /teams/${team}/templates/NAME/default)`,
      );
    if (userdata) {
      const existing = await this.#d.store.getMember(team, member);
      await this.#d.store.putMember({
        team,
        member,
        data: { ...(existing?.data ?? {}), ...userdata },
        updatedAt: this.#d.now().toISOString(),
      });
    }
    // Authorised as the system (the event names the member), but the stack is the member's:
    // providers offered to admins only are not offered to it.
    const system: Caller = { team, member, admin: true };
    return this.#create(
      system,
      team,
      { template: def.name, version: def.version, member },
      `event:${event.id}`,
      false,
      // A member who signs up again keeps the stack they have.
      "existing",
    );
  }
}

export type InboundEvent = SignupEvent | MemberLeftEvent;

const gone = (message: string) => new ApiError(410, "Gone", message);

/**
 * The most servers a stack made through the API may have: each is a sandbox, a VM, or a Map
 * branch. 1,000 is the size the pipeline is benchmarked at (see README, Benchmarks).
 */
export const MAX_STACK_SERVERS = 1000;
/** The most hooks a stack made through the API may have, pre, post and destroy hooks together. */
export const MAX_STACK_HOOKS = 100;

/** Refuses (422) a template larger than a member may make through the API. */
function checkTemplateSize(template: Template): void {
  const problems: string[] = [];
  if (template.servers.length > MAX_STACK_SERVERS)
    problems.push(`${template.servers.length} servers; a stack may have at most ${MAX_STACK_SERVERS}`);
  const hooks = template.preHooks.length + template.postHooks.length + (template.destroyHooks?.length ?? 0);
  if (hooks > MAX_STACK_HOOKS) problems.push(`${hooks} hooks; a stack may have at most ${MAX_STACK_HOOKS}`);
  if (problems.length > 0) throw unprocessable(`the template has ${problems.join(", and ")}`);
}

/**
 * The answer to a credential's registration: what may be shown, and for a role reference its
 * `kind`, `roleArn` and `region` where clients read them before credentials were for any provider.
 */
function credentialAnswer(view: CredentialView, roleReference: boolean) {
  const { roleArn, region } = view.values;
  return {
    ...view,
    ...(roleReference && roleArn !== undefined && region !== undefined
      ? { kind: "role" as const, roleArn, region }
      : {}),
  };
}
