import { HOOK_PHASES, type HookPhase } from "../core/template.ts";
import type { Executions } from "../ports/orchestration.ts";
import type {
  HookRecord,
  HookStatus,
  LockHolder,
  ServerRecord,
  ServerStatus,
  StackKey,
  StackRecord,
  StackRuns,
} from "../ports/store.ts";
import { inTemplateOrder } from "./servers.ts";

/** The status of a stack as `teamstack status --json` and the API show it. */
export interface StackStatusView {
  readonly stackId: string;
  /** The stack's name (null for stacks made before names). */
  readonly name: string | null;
  readonly team: string;
  readonly member: string;
  /** The template version it is on (or converging to, while an update runs), and its hash. */
  readonly template: { readonly name: string | null; readonly version: number | null; readonly hash: string };
  readonly status: ShownStatus;
  readonly run: number;
  readonly servers: ReadonlyArray<{
    readonly name: string;
    readonly status: ServerStatus;
    readonly provider: string;
    readonly type: string;
    readonly dependsOn: readonly string[];
    readonly artifacts: Readonly<Record<string, string>>;
    readonly startedAt: string | null;
    readonly readyAt: string | null;
    readonly error: string | null;
    /** What an update does to it, while it runs: `replacing` the copy that exists, or `removing` it. */
    readonly change: "replacing" | "removing" | null;
  }>;
  readonly hooks: ReadonlyArray<{
    readonly phase: HookPhase;
    readonly index: number;
    readonly type: string;
    readonly status: HookStatus;
    readonly output: string | null;
    readonly exitCode: number | null;
    readonly error: string | null;
  }>;
  /** The stack's own artifacts (a hook's), and each server's under its name. */
  readonly artifacts: Readonly<Record<string, string | Readonly<Record<string, string>>>>;
  readonly lock: LockHolder | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly error: string | null;
  /** When ttl destroys the stack (present when it has one). */
  readonly expiresAt?: string;
  /** When auto_stop stops the stack (present while it runs with one). */
  readonly stopsAt?: string;
  /** When the stack was last stopped. */
  readonly stoppedAt?: string;
}

/**
 * A stack's status as shown: the stored one, or INTERRUPTED for a stack whose run is gone (its
 * process was killed, or stopped by Ctrl-C or a lost store) while the store still says it runs.
 */
export type ShownStatus = StackRecord["status"] | "INTERRUPTED";

/**
 * The status to show for a stack: INTERRUPTED when it is RUNNING, DESTROYING, STOPPING or STARTING under a lock
 * whose execution no longer runs (`rerun` takes such a stack over, `down` tears it down).
 */
export async function shownStatus(
  stack: Pick<StackRecord, "status" | "lock">,
  executions: Executions,
): Promise<ShownStatus> {
  const { status, lock } = stack;
  if (
    (status === "RUNNING" || status === "DESTROYING" || status === "STOPPING" || status === "STARTING") &&
    lock &&
    !(await executions.isRunning(lock.execution))
  )
    return "INTERRUPTED";
  return status;
}

/** The view with INTERRUPTED in place of a status whose run is gone (see `shownStatus`). */
export async function withLiveness(view: StackStatusView, executions: Executions): Promise<StackStatusView> {
  const status = await shownStatus(
    { status: view.status as StackRecord["status"], ...(view.lock ? { lock: view.lock } : {}) },
    executions,
  );
  return status === view.status ? view : { ...view, status };
}

/** What a server is doing, for people: a PENDING server holding a wait token is WAITING. */
export function serverStatus(s: ServerRecord): ServerStatus {
  if (s.status === "PENDING" && s.waitToken && s.pending.length > 0) return "WAITING";
  return s.status;
}

/** Builds the status view from the store's records (never the template). */
export async function stackStatus(store: StackRuns, key: StackKey): Promise<StackStatusView | undefined> {
  const stack = await store.getStack(key);
  if (!stack) return undefined;
  const [servers, hooks, stackArtifacts] = await Promise.all([
    store.listServers(key),
    store.listHooks(key),
    store.getArtifacts(key),
  ]);
  // Servers in template order, as people wrote them (the store keeps them by name): each record's
  // spec knows its place.
  return statusView(stack, inTemplateOrder(servers), hooks, stackArtifacts);
}

export function statusView(
  stack: StackRecord,
  servers: readonly ServerRecord[],
  hooks: readonly HookRecord[],
  stackArtifacts: Readonly<Record<string, string>>,
): StackStatusView {
  const artifacts: Record<string, string | Readonly<Record<string, string>>> = { ...stackArtifacts };
  for (const s of servers) if (s.artifacts) artifacts[s.name] = s.artifacts;
  return {
    stackId: stack.stackId,
    name: stack.name ?? null,
    team: stack.team,
    member: stack.member,
    template: {
      name: stack.template?.name ?? null,
      version: stack.template?.version ?? null,
      hash: stack.templateHash,
    },
    status: stack.status,
    run: stack.run,
    servers: servers.map((s) => ({
      name: s.name,
      status: serverStatus(s),
      provider: s.provider,
      type: s.type,
      dependsOn: s.deps,
      artifacts: s.artifacts ?? {},
      startedAt: s.startedAt ?? null,
      readyAt: s.readyAt ?? null,
      error: s.error ?? null,
      change: s.removed ? "removing" : s.replace ? "replacing" : null,
    })),
    hooks: [...hooks]
      .sort((a, b) => HOOK_PHASES.indexOf(a.phase) - HOOK_PHASES.indexOf(b.phase) || a.index - b.index)
      .map((h) => ({
        phase: h.phase,
        index: h.index,
        type: h.type,
        status: h.status,
        output: h.output ?? null,
        exitCode: h.exitCode ?? null,
        error: h.error ?? null,
      })),
    artifacts,
    lock: stack.lock ?? null,
    startedAt: stack.startedAt,
    finishedAt: stack.finishedAt ?? null,
    error: stack.error ?? null,
    ...(stack.expiresAt ? { expiresAt: stack.expiresAt } : {}),
    ...(stack.stopsAt ? { stopsAt: stack.stopsAt } : {}),
    ...(stack.stoppedAt ? { stoppedAt: stack.stoppedAt } : {}),
  };
}

/**
 * Whether a stack is stopped or on its way between stopped and started: a provision run (a rerun,
 * an update) would make its stopped servers again from scratch, so every door refuses one.
 */
export function isStopped(status: StackRecord["status"]): boolean {
  return status === "STOPPED" || status === "STOPPING" || status === "STARTING";
}
