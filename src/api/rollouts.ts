import { randomBytes } from "node:crypto";
import {
  assignWaves,
  DEFAULT_ROLLOUT_SETTINGS,
  isCanaryWave,
  nextRolloutStep,
  type RolloutSettings,
  rolloutCounts,
} from "../core/rollout.ts";
import type { EventPublisher } from "../ports/orchestration.ts";
import type { RolloutKey, RolloutRecord, RolloutStackRecord, Rollouts } from "../ports/rollouts.ts";
import type { StackRecord, StackRuns, TemplateCatalog, TemplateRef } from "../ports/store.ts";
import { ApiError, badRequest, conflict, forbidden, notFound } from "./errors.ts";

/**
 * Rollouts: a template's new version taken to every stack of the team on an older one, in waves
 * (the rules: src/core/rollout.ts). This file starts them, shows them, and advances them when a
 * stack's run ends: `teamstack serve` calls {@link RolloutService.onStackRunEnded} when an
 * execution it ran ends; in AWS, lambdas/rollout does on teamstack's own `Stack Provisioned` and
 * `Stack Failed` events.
 *
 * Advancing is idempotent: every stack moves between states by a conditional write (PENDING to
 * UPDATING by exactly one caller, which alone starts its update; UPDATING to SUCCEEDED or FAILED
 * only for a run newer than the one the update started from), and the rollout ends by one
 * conditional write (RUNNING to its end), so a duplicate or late event starts nothing twice.
 */

/** Starts one stack's update to a version (StackService.update, as the system). */
export interface StackUpdater {
  /** @throws ApiError when the stack cannot be updated now (409 while a run holds it, 404, 422). */
  update(
    team: string,
    stackId: string,
    version: number,
    /** Who asks, for the stack's events: `rollout ro-...`. */
    by: string,
  ): Promise<{ readonly executionName: string }>;
}

/** How a stack's run ended, from an outbound event's detail or, locally, the stack record after it. */
export interface StackRunOutcome {
  readonly team: string;
  readonly stackId: string;
  /** The run that ended. */
  readonly run: number;
  readonly status: "SUCCEEDED" | "FAILED";
  /** The template version the stack is on (or was converging to) when the run ended. */
  readonly template?: TemplateRef;
  readonly error?: string;
}

export interface RolloutDeps {
  readonly store: StackRuns & TemplateCatalog;
  readonly rollouts: Rollouts;
  readonly updater: StackUpdater;
  /** Where `Rollout Finished` goes; without one it is not sent. */
  readonly events?: EventPublisher;
  readonly now: () => Date;
}

/** Who asks (the API's caller). */
interface RolloutCaller {
  readonly team: string;
  readonly member: string;
  readonly admin: boolean;
}

/** POST /teams/{team}/templates/{name}/rollout's body. */
export interface RolloutRequest {
  readonly version: number;
  readonly canary?: number;
  readonly batch?: number;
  readonly max_failed_percent?: number;
}

/** The `source` of `Rollout Finished` (the stacks' events' source: one rule sees all). */
export const ROLLOUT_EVENT_SOURCE = "teamstack.stacks";
export const ROLLOUT_FINISHED = "Rollout Finished";

/**
 * A claim on a template's running rollout whose rollout record was never written is taken over
 * after this long: the request that claimed it died between the two writes.
 */
const STALE_CLAIM_MS = 60_000;

/**
 * How long after a stack was marked UPDATING without its update's execution recorded the next
 * trigger asks for the update again (the caller that marked it died; in AWS a retried invocation
 * comes a minute or more later). Sooner would only ask twice for the same execution.
 */
const UNSTARTED_AFTER_MS = 30_000;

/** Statuses of a stack a rollout does not take on. */
const GONE = new Set<StackRecord["status"]>(["DESTROYING", "DESTROYED"]);

export class RolloutService {
  readonly #d: RolloutDeps;
  constructor(deps: RolloutDeps) {
    this.#d = deps;
  }

  /**
   * Starts a rollout of `template` at `req.version` over every stack of the team on an older
   * version of it, and starts its first wave. Asked again while that rollout runs (same version and
   * settings), answers with it instead of starting a second one.
   */
  async start(caller: RolloutCaller, team: string, template: string, req: RolloutRequest) {
    if (caller.team !== team) throw forbidden(`your token is for team \`${caller.team}\`, not \`${team}\``);
    if (!caller.admin) throw forbidden("starting a rollout needs a team admin's token");
    const settings: RolloutSettings = {
      canary: req.canary ?? DEFAULT_ROLLOUT_SETTINGS.canary,
      batch: req.batch ?? DEFAULT_ROLLOUT_SETTINGS.batch,
      maxFailedPercent: req.max_failed_percent ?? DEFAULT_ROLLOUT_SETTINGS.maxFailedPercent,
    };
    const { store, rollouts } = this.#d;
    const target = await store.getTemplateVersion(team, template, req.version);
    if (!target) {
      const latest = await store.getTemplateVersion(team, template);
      throw notFound(
        latest
          ? `template \`${template}\` of team \`${team}\` has no version ${req.version}; its newest is ${latest.version}`
          : `team \`${team}\` has no template \`${template}\``,
      );
    }

    const running = await this.#running(team, template);
    if (running) {
      if (running.version === req.version && sameSettings(running, settings)) {
        return { status: 200 as const, body: await this.#view(running) };
      }
      throw conflict(
        `rollout \`${running.rolloutId}\` of template \`${template}\` (to version ${running.version}) is running; wait for it to end (GET /teams/${team}/rollouts/${running.rolloutId})`,
      );
    }

    const stacks = (await store.listStacks(team))
      .filter((s) => s.template?.name === template && s.template.version < req.version && !GONE.has(s.status))
      .sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.stackId, b.stackId));
    const now = this.#d.now().toISOString();
    const rolloutId = `ro-${randomBytes(8).toString("hex")}`;
    const claim = await rollouts.claimActiveRollout(team, template, rolloutId, this.#d.now(), STALE_CLAIM_MS);
    if (!claim.claimed) {
      throw conflict(
        `rollout \`${claim.holder}\` of template \`${template}\` started meanwhile; wait for it to end (GET /teams/${team}/rollouts/${claim.holder})`,
      );
    }
    const waves = assignWaves(stacks.length, settings);
    const record: RolloutRecord = {
      team,
      rolloutId,
      template,
      version: req.version,
      canary: settings.canary,
      batch: settings.batch,
      maxFailedPercent: settings.maxFailedPercent,
      state: "RUNNING",
      stacks: stacks.length,
      createdBy: caller.member,
      createdAt: now,
    };
    await rollouts.putRollout(
      record,
      stacks.map((s, index) => ({
        team,
        rolloutId,
        stackId: s.stackId,
        member: s.member,
        index,
        wave: waves[index] ?? 0,
        fromVersion: s.template?.version ?? 0,
        state: "PENDING",
      })),
    );
    await this.advance(record);
    return { status: 202 as const, body: await this.#view(record) };
  }

  /** A rollout's progress, stack by stack. */
  async get(caller: RolloutCaller, team: string, rolloutId: string) {
    if (caller.team !== team) throw forbidden(`your token is for team \`${caller.team}\`, not \`${team}\``);
    if (!caller.admin) throw forbidden("reading a rollout needs a team admin's token");
    const record = await this.#d.rollouts.getRollout({ team, rolloutId });
    if (!record) throw notFound(`team \`${team}\` has no rollout \`${rolloutId}\``);
    return this.#view(record);
  }

  /** The team's rollouts, newest first, without their stacks. */
  async list(caller: RolloutCaller, team: string) {
    if (caller.team !== team) throw forbidden(`your token is for team \`${caller.team}\`, not \`${team}\``);
    if (!caller.admin) throw forbidden("listing rollouts needs a team admin's token");
    return (await this.#d.rollouts.listRollouts(team)).map(summary);
  }

  /**
   * Keeps the stacks (as GET /teams/{team}/stacks lists them) behind their template: on a version
   * older than the template's newest published one. Each gets `latest`.
   */
  async outdated<
    T extends { readonly template: string | null; readonly version: number | null; readonly status?: string },
  >(team: string, stacks: readonly T[]): Promise<(T & { readonly latest: number })[]> {
    const names = [...new Set(stacks.map((s) => s.template).filter((n): n is string => n !== null))];
    const latest = new Map<string, number>();
    await Promise.all(
      names.map(async (name) => {
        const v = await this.#d.store.getTemplateVersion(team, name);
        if (v) latest.set(name, v.version);
      }),
    );
    const out: (T & { readonly latest: number })[] = [];
    for (const s of stacks) {
      const newest = s.template === null ? undefined : latest.get(s.template);
      if (newest !== undefined && s.version !== null && s.version < newest)
        out.push({ ...s, latest: newest });
    }
    return out;
  }

  /**
   * A stack's run ended: records it on the stack's entry in its template's running rollout (if the
   * rollout is updating it, and the run is the update's or a later one), then advances the rollout.
   * Anything else (no rollout, an older run's event, a duplicate) changes nothing.
   */
  async onStackRunEnded(outcome: StackRunOutcome): Promise<void> {
    const { rollouts } = this.#d;
    if (!outcome.template) return;
    const rolloutId = await rollouts.getActiveRollout(outcome.team, outcome.template.name);
    if (!rolloutId) return;
    const key = { team: outcome.team, rolloutId };
    const [record, entry] = await Promise.all([
      rollouts.getRollout(key),
      rollouts.getRolloutStack(key, outcome.stackId),
    ]);
    if (!record || !entry) return;
    if (entry.state === "UPDATING") {
      const onTarget = outcome.template.version === record.version;
      const succeeded = outcome.status === "SUCCEEDED" && onTarget;
      const error = succeeded
        ? undefined
        : outcome.status === "FAILED"
          ? (outcome.error ?? `run ${outcome.run} failed`)
          : `run ${outcome.run} ended with the stack on version ${outcome.template.version}, not ${record.version}`;
      await rollouts.moveRolloutStack(
        key,
        outcome.stackId,
        ["UPDATING"],
        succeeded ? "SUCCEEDED" : "FAILED",
        {
          finishedAt: this.#d.now().toISOString(),
          ...(error !== undefined ? { error: error.slice(0, 2000) } : {}),
        },
        outcome.run,
      );
    }
    await this.advance(record);
  }

  /**
   * Does what the rollout's next step says: starts a wave's stacks, or ends the rollout (then
   * skips the stacks never started, sends `Rollout Finished` and releases the template). Repeats
   * while starts end at once (stacks skipped or refused), so that a wave of them does not stall.
   */
  async advance(key: RolloutKey): Promise<void> {
    const { rollouts } = this.#d;
    for (;;) {
      const record = await rollouts.getRollout(key);
      if (!record) return;
      if (record.state !== "RUNNING") {
        // Ended: finish what the caller that ended it may not have (it died after ending it).
        if ((await rollouts.getActiveRollout(record.team, record.template)) === record.rolloutId) {
          await this.#cleanUp(record);
        }
        return;
      }
      const stacks = await rollouts.listRolloutStacks(key);
      const step = nextRolloutStep(settingsOf(record), stacks);
      if (step.kind === "wait") {
        await this.#resumeUnstarted(record, stacks);
        return;
      }
      if (step.kind === "finish") {
        await rollouts.finishRollout(key, step.state, step.reason, this.#d.now().toISOString());
        continue;
      }
      const byId = new Map(stacks.map((s) => [s.stackId, s]));
      const started = await Promise.all(
        step.stackIds.map((id) => this.#startOne(record, byId.get(id) as RolloutStackRecord)),
      );
      // Something is running now (or another caller started it): its end advances the rollout.
      if (started.some((s) => s)) return;
    }
  }

  /** Starts one stack's update; returns whether it runs now (false: skipped, failed at once, or not ours). */
  async #startOne(record: RolloutRecord, entry: RolloutStackRecord): Promise<boolean> {
    const { store, rollouts } = this.#d;
    const key: RolloutKey = record;
    const now = () => this.#d.now().toISOString();
    const stack = await store.getStack({ team: record.team, stackId: entry.stackId });
    const skip = async (why: string) => {
      await rollouts.moveRolloutStack(key, entry.stackId, ["PENDING"], "SKIPPED", {
        error: why,
        finishedAt: now(),
      });
      return false;
    };
    if (!stack || GONE.has(stack.status)) return skip("the stack was destroyed");
    if (stack.template?.name !== record.template) {
      return skip(`the stack is now on template \`${stack.template?.name ?? "(a file)"}\``);
    }
    if (stack.template.version >= record.version) {
      return skip(`the stack is on version ${stack.template.version} already`);
    }
    const moved = await rollouts.moveRolloutStack(key, entry.stackId, ["PENDING"], "UPDATING", {
      fromRun: stack.run,
      startedAt: now(),
    });
    if (!moved) return true; // another caller started it
    return this.#callUpdate(record, moved, false);
  }

  /**
   * Asks for an UPDATING stack's update and records its execution. Asking twice before its run
   * starts is harmless: the update's execution name comes from the stack's run number, and a name
   * started once is not started again.
   */
  async #callUpdate(record: RolloutRecord, entry: RolloutStackRecord, resuming: boolean): Promise<boolean> {
    const { rollouts } = this.#d;
    const key: RolloutKey = record;
    const now = () => this.#d.now().toISOString();
    let executionName: string;
    try {
      ({ executionName } = await this.#d.updater.update(
        record.team,
        entry.stackId,
        record.version,
        `rollout ${record.rolloutId}`,
      ));
    } catch (error) {
      if (!(error instanceof ApiError)) {
        // The store or the orchestrator failing: put it back, for the retry of this trigger.
        await rollouts.moveRolloutStack(key, entry.stackId, ["UPDATING"], "PENDING", {});
        throw error;
      }
      // A run holds the stack (409): not attempted, unless asking again (the run is the update's).
      // Anything else refused: this stack failed.
      const busy = error.status === 409;
      if (busy && resuming) return true;
      await rollouts.moveRolloutStack(key, entry.stackId, ["UPDATING"], busy ? "SKIPPED" : "FAILED", {
        error: `${busy ? "not updated: " : ""}${error.message}`.slice(0, 2000),
        finishedAt: now(),
      });
      return false;
    }
    await rollouts.setRolloutStack(key, entry.stackId, { execution: executionName });
    return true;
  }

  /**
   * Asks again for the updates of stacks marked UPDATING whose update was never asked for: the
   * caller that marked them died before it could (a Lambda timed out). Such a stack has no
   * execution recorded, no lock, and no run since the one its update started from.
   */
  async #resumeUnstarted(record: RolloutRecord, stacks: readonly RolloutStackRecord[]): Promise<void> {
    const now = this.#d.now().getTime();
    const unstarted = stacks.filter(
      (s) =>
        s.state === "UPDATING" &&
        s.execution === undefined &&
        now - Date.parse(s.startedAt ?? "") > UNSTARTED_AFTER_MS,
    );
    await Promise.all(
      unstarted.map(async (entry) => {
        const stack = await this.#d.store.getStack({ team: record.team, stackId: entry.stackId });
        if (!stack || stack.lock || stack.run !== entry.fromRun) return;
        await this.#callUpdate(record, entry, true);
      }),
    );
  }

  async #cleanUp(record: RolloutRecord): Promise<void> {
    const { rollouts } = this.#d;
    const stacks = await rollouts.listRolloutStacks(record);
    const finishedAt = record.finishedAt ?? this.#d.now().toISOString();
    await Promise.all(
      stacks
        .filter((s) => s.state === "PENDING")
        .map((s) =>
          rollouts.moveRolloutStack(record, s.stackId, ["PENDING"], "SKIPPED", {
            error: "not started: the rollout stopped",
            finishedAt,
          }),
        ),
    );
    const after = await rollouts.listRolloutStacks(record);
    await this.#d.events?.publish({
      id: `rollout:${record.team}:${record.rolloutId}:finished`,
      source: ROLLOUT_EVENT_SOURCE,
      detailType: ROLLOUT_FINISHED,
      time: finishedAt,
      detail: {
        team: record.team,
        // The admin who started it: every outbound event names a member.
        member: record.createdBy,
        rolloutId: record.rolloutId,
        template: { name: record.template, version: record.version },
        state: record.state,
        ...(record.reason !== undefined ? { reason: record.reason } : {}),
        counts: rolloutCounts(after),
      },
    });
    await rollouts.releaseActiveRollout(record.team, record.template, record.rolloutId);
  }

  /** The template's running rollout; a claim left by a rollout that ended is cleaned up first. */
  async #running(team: string, template: string): Promise<RolloutRecord | undefined> {
    const id = await this.#d.rollouts.getActiveRollout(team, template);
    if (!id) return undefined;
    const record = await this.#d.rollouts.getRollout({ team, rolloutId: id });
    if (record?.state === "RUNNING") return record;
    if (record) await this.#cleanUp(record);
    return undefined;
  }

  async #view(record: RolloutRecord) {
    const current = (await this.#d.rollouts.getRollout(record)) ?? record;
    const stacks = await this.#d.rollouts.listRolloutStacks(record);
    return {
      ...summary(current),
      counts: rolloutCounts(stacks),
      stacks: stacks.map((s) => ({
        stackId: s.stackId,
        member: s.member,
        wave: s.wave,
        canary: isCanaryWave(s.wave, current),
        fromVersion: s.fromVersion,
        state: s.state,
        ...(s.execution !== undefined ? { execution: s.execution } : {}),
        ...(s.startedAt !== undefined ? { startedAt: s.startedAt } : {}),
        ...(s.finishedAt !== undefined ? { finishedAt: s.finishedAt } : {}),
        ...(s.error !== undefined ? { error: s.error } : {}),
      })),
    };
  }
}

/** The API's `outdated` query parameter: `true` or `false`. @throws ApiError 400 otherwise. */
export function outdatedParam(value: string | undefined): boolean {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  throw badRequest(`outdated \`${value.slice(0, 40)}\`: expected true or false`);
}

function summary(r: RolloutRecord) {
  return {
    rolloutId: r.rolloutId,
    template: r.template,
    version: r.version,
    canary: r.canary,
    batch: r.batch,
    max_failed_percent: r.maxFailedPercent,
    state: r.state,
    total: r.stacks,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    ...(r.finishedAt !== undefined ? { finishedAt: r.finishedAt } : {}),
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  };
}

function settingsOf(r: RolloutRecord): RolloutSettings {
  return { canary: r.canary, batch: r.batch, maxFailedPercent: r.maxFailedPercent };
}

function sameSettings(r: RolloutRecord, s: RolloutSettings): boolean {
  return r.canary === s.canary && r.batch === s.batch && r.maxFailedPercent === s.maxFailedPercent;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
