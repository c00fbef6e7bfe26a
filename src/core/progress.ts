/**
 * The progress model of a stack, for people watching it: the CLI's live table and the console's
 * graph. Pure: it reads a stack's status view (as `teamstack status --json` and
 * `GET /teams/{team}/stacks/{id}` give it) and the time it is now, nothing else.
 */

/** The parts of a stack's status view that progress reads (the view itself fits). */
export interface ProgressView {
  readonly status: string;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly servers: ReadonlyArray<{
    readonly name: string;
    readonly status: string;
    readonly provider: string;
    readonly dependsOn: readonly string[];
    readonly startedAt: string | null;
    readonly readyAt: string | null;
    readonly error?: string | null;
    readonly change?: "replacing" | "removing" | null;
  }>;
  readonly hooks?: ReadonlyArray<{
    readonly phase: string;
    readonly index: number;
    readonly type: string;
    readonly status: string;
  }>;
}

/** One server's progress. */
export interface ServerProgress {
  readonly name: string;
  readonly provider: string;
  /** The server's status as the view gives it (PENDING, WAITING, CREATING, SUCCEEDED, ...). */
  readonly state: string;
  /** Ready (SUCCEEDED); a server being removed by an update counts as finished too. */
  readonly finished: boolean;
  /**
   * How long it has been creating (CREATING: now - startedAt), or how long it took (SUCCEEDED:
   * readyAt - startedAt); null when it has not started, or its times are missing.
   */
  readonly elapsedMs: number | null;
  /** The servers it depends on that are not ready yet, in its dependency order. */
  readonly waitsFor: readonly string[];
  /** Its level in the dependency graph: 0 with no dependencies, else 1 + its deepest dependency's. */
  readonly depth: number;
  /** When it is expected to be ready (ISO 8601), or null when that cannot be estimated. */
  readonly expectedReadyAt: string | null;
}

/** A hook's progress (hooks run one at a time, in order). */
export interface HookProgress {
  readonly phase: string;
  readonly index: number;
  readonly type: string;
  readonly state: string;
  readonly running: boolean;
}

/** When the stack is expected to be ready, and the chain of servers that decides it. */
export interface ProgressEstimate {
  /** ISO 8601. */
  readonly readyAt: string;
  readonly remainingMs: number;
  /** The unfinished servers on the critical path, first to last. */
  readonly criticalPath: readonly string[];
  /** How the servers' durations were estimated: from this run's finished servers, or from `typicalMs`. */
  readonly basis: "finished" | "typical";
}

export interface StackProgress {
  readonly status: string;
  /** Since the run started (to now, or to its end when it has finished). */
  readonly elapsedMs: number;
  readonly servers: readonly ServerProgress[];
  readonly hooks: readonly HookProgress[];
  /** Servers ready, of all the servers in the stack (those being removed left out). */
  readonly ready: number;
  readonly total: number;
  readonly estimate: ProgressEstimate | null;
}

export interface ProgressOptions {
  /** A provider's typical time from create to ready, when there is no finished server to learn from. */
  readonly typicalMs?: (provider: string) => number | undefined;
}

/** Milliseconds since the epoch of an ISO time, or null when it is missing or not a time. */
function timeOf(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * A stack's progress at `now` (ms since the epoch, a Date, or an ISO time).
 *
 * The estimate. Each server's duration (create to ready) is taken from the servers that finished,
 * in this run or an earlier one (their readyAt - startedAt): the median of the same provider's,
 * else the median of all of them; with none finished, `options.typicalMs(provider)`. A server
 * creating now has `max(0, duration - elapsed)` left (one running longer than expected may end
 * any moment); one not started has its whole duration left, after its last dependency is ready.
 * So each unfinished server's ready time is `max(its dependencies' ready times, now) + what it has
 * left`, computed in dependency order; the stack's estimate is the latest of them, and the chain
 * that leads to it is the critical path. This assumes every server can start as soon as its
 * dependencies are ready (the view does not say max_parallel) and leaves hooks out (their times
 * are not in the view). The estimate is null when the stack is not running (nothing to wait for),
 * when a server failed (the stack will not be ready), or when some unfinished server's duration
 * cannot be estimated.
 */
export function stackProgress(
  view: ProgressView,
  now: number | Date | string,
  options: ProgressOptions = {},
): StackProgress {
  const nowMs = typeof now === "number" ? now : typeof now === "string" ? Date.parse(now) : now.getTime();
  const byName = new Map(view.servers.map((s) => [s.name, s]));
  const isFinished = (s: ProgressView["servers"][number]): boolean =>
    s.status === "SUCCEEDED" || s.change === "removing";
  const depsOf = (name: string): string[] => (byName.get(name)?.dependsOn ?? []).filter((d) => byName.has(d));

  const depths = new Map<string, number>();
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depths.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0; // a cycle cannot be compiled; stay finite anyway
    seen.add(name);
    const deps = depsOf(name);
    const depth = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((d) => depthOf(d, seen)));
    seen.delete(name);
    depths.set(name, depth);
    return depth;
  };

  const tookMs = (s: ProgressView["servers"][number]): number | null => {
    const start = timeOf(s.startedAt);
    const ready = timeOf(s.readyAt);
    return start !== null && ready !== null && ready >= start ? ready - start : null;
  };
  const samples = new Map<string, number[]>();
  const all: number[] = [];
  for (const s of view.servers) {
    if (s.status !== "SUCCEEDED") continue;
    const took = tookMs(s);
    if (took === null) continue;
    all.push(took);
    samples.set(s.provider, [...(samples.get(s.provider) ?? []), took]);
  }
  const basis: ProgressEstimate["basis"] = all.length > 0 ? "finished" : "typical";
  const durationOf = (provider: string): number | null => {
    const own = samples.get(provider);
    if (own && own.length > 0) return median(own);
    if (all.length > 0) return median(all);
    const typical = options.typicalMs?.(provider);
    return typical !== undefined && Number.isFinite(typical) && typical >= 0 ? typical : null;
  };

  const running = view.status === "RUNNING";
  const failed = view.servers.some((s) => s.status === "FAILED" && s.change !== "removing");
  // Expected ready time of each server (ms), null when unknown; via: the dependency it waits on last.
  const readyAt = new Map<string, number | null>();
  const via = new Map<string, string | null>();
  const expect = (name: string, seen: Set<string>): number | null => {
    if (readyAt.has(name)) return readyAt.get(name) ?? null;
    const s = byName.get(name);
    if (!s) return null;
    if (isFinished(s)) {
      readyAt.set(name, timeOf(s.readyAt) ?? nowMs);
      via.set(name, null);
      return readyAt.get(name) ?? null;
    }
    if (seen.has(name)) return null;
    seen.add(name);
    // Finished dependencies hold nothing back; the unfinished one ready last decides when it starts.
    let last: string | null = null;
    let lastAt = nowMs;
    let known = true;
    for (const d of depsOf(name)) {
      const t = expect(d, seen);
      if (t === null) known = false;
      else if (!isFinished(byName.get(d) as typeof s) && (last === null || t > lastAt)) {
        last = d;
        lastAt = t;
      }
    }
    const start = Math.max(nowMs, lastAt);
    seen.delete(name);
    const duration = durationOf(s.provider);
    let at: number | null = null;
    if (known && duration !== null) {
      const began = s.status === "CREATING" ? timeOf(s.startedAt) : null;
      at = began !== null ? Math.max(nowMs, began + duration) : start + duration;
    }
    readyAt.set(name, at);
    via.set(name, last);
    return at;
  };

  const servers: ServerProgress[] = view.servers.map((s) => {
    const finished = isFinished(s);
    const began = timeOf(s.startedAt);
    const elapsedMs =
      s.status === "CREATING" && began !== null
        ? Math.max(0, nowMs - began)
        : s.status === "SUCCEEDED"
          ? tookMs(s)
          : null;
    const t = running && !failed && !finished ? expect(s.name, new Set()) : null;
    return {
      name: s.name,
      provider: s.provider,
      state: s.status,
      finished,
      elapsedMs,
      waitsFor: finished
        ? []
        : depsOf(s.name).filter((d) => !isFinished(byName.get(d) as ProgressView["servers"][number])),
      depth: depthOf(s.name, new Set()),
      expectedReadyAt: t === null ? null : new Date(t).toISOString(),
    };
  });

  const counted = view.servers.filter((s) => s.change !== "removing");
  const unfinished = servers.filter((s) => !s.finished);
  let estimate: ProgressEstimate | null = null;
  if (running && !failed && unfinished.length > 0 && unfinished.every((s) => s.expectedReadyAt !== null)) {
    let end = unfinished[0] as ServerProgress;
    for (const s of unfinished) if ((readyAt.get(s.name) ?? 0) > (readyAt.get(end.name) ?? 0)) end = s;
    const path: string[] = [];
    for (let at: string | null = end.name; at !== null && !path.includes(at); at = via.get(at) ?? null) {
      path.unshift(at);
    }
    const endMs = readyAt.get(end.name) as number;
    estimate = {
      readyAt: new Date(endMs).toISOString(),
      remainingMs: Math.max(0, endMs - nowMs),
      criticalPath: path,
      basis,
    };
  }

  const startMs = timeOf(view.startedAt);
  const endMs = timeOf(view.finishedAt) ?? nowMs;
  const hooks: HookProgress[] = (view.hooks ?? []).map((h) => ({
    phase: h.phase,
    index: h.index,
    type: h.type,
    state: h.status,
    running: h.status === "RUNNING",
  }));
  return {
    status: view.status,
    elapsedMs: startMs === null ? 0 : Math.max(0, endMs - startMs),
    servers,
    hooks,
    ready: counted.filter((s) => s.status === "SUCCEEDED").length,
    total: counted.length,
    estimate,
  };
}

/** A duration for people: `850ms`, `12s`, `3m 05s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
