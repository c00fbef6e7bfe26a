import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type {
  CreateServerRequest,
  Provider,
  ReadyResult,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
} from "../../ports/provider.ts";
import type { RateBudget, RateLimit } from "../../ports/rate-budget.ts";
import type { ServerLogs } from "../../ports/server-logs.ts";
import { createMemoryRateBudget } from "../../shared/memory-rate-budget.ts";
import { hashOf, KeyedMutex, readJsonFile, writeFileAtomic } from "../../shared/state-files.ts";
import { ProviderRequestError, ProviderThrottledError, ServerNotFoundError } from "../errors.ts";
import { delay, truncateUtf8 } from "../timing.ts";

/**
 * The `sim` provider: servers that exist only as records, for dry runs, tests and benchmarks.
 *
 * Template options: `boot_ms` (create to ready, default 0), `fail` (`true`, `"once"`, or a rate
 * 0..1 drawn deterministically from `seed`, the stack, the server and the attempt),
 * `fail_output_bytes` (how much a failing user_data prints), `fail_destroy` (like `fail`, for
 * destroy), `destroy_ms` (how long a destroy takes), `fail_stop` (like `fail`, for stop),
 * `new_public_ip` (each start gives the server a new PublicIP, as EC2 does without an Elastic IP),
 * and `create_rate` with `create_burst`: an account-wide create limit, a token bucket
 * shared by every sim server of the deployment through the RateBudget port (the table, so every
 * process and stack together), as EC2 limits RunInstances per account and region.
 */

export interface SimProviderOptions {
  /** Where servers and attempt counts are kept so that they hold across processes; in memory when absent. */
  readonly stateDir?: string;
  /** The clock, in epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /** The budget `create_rate` draws on (default: this process's own). */
  readonly budget?: RateBudget;
  /** The longest a create waits for its turn under `create_rate` (default 240 s, within CreateServer's 300 s). */
  readonly createWaitMs?: number;
  /** Where each attempt's scripted user_data output goes (the ServerLogs port), when given. */
  readonly logs?: ServerLogs;
}

/**
 * The budget a team's sim creates with `create_rate` draw on: one per team, as each team's cloud
 * account has its own limits, so that one team's template cannot slow another team's creates.
 */
export function simCreateBudget(team: string): string {
  return `sim:create:${team}`;
}

/** The `fail` option, parsed. */
export type SimFailMode =
  | { readonly kind: "never" | "always" | "once" }
  | { readonly kind: "rate"; readonly rate: number; readonly seed: string };

/** The template options the sim provider understands, parsed and checked. */
export interface SimOptions {
  readonly bootMs: number;
  readonly fail: SimFailMode;
  readonly failOutputBytes: number;
  readonly failDestroy: SimFailMode;
  readonly destroyMs: number;
  readonly failStop: SimFailMode;
  readonly newPublicIp: boolean;
  /** The account-wide create limit, when `create_rate` is set. */
  readonly createLimit?: RateLimit;
}

/** One created server, as recorded. */
interface SimServerRecord {
  readonly token: string;
  readonly id: string;
  readonly attempt: number;
  /** Epoch milliseconds of the create that made this server. */
  readonly createdAt: number;
  readonly bootMs: number;
  readonly fails: boolean;
  /** Bytes a failing user_data prints (absent: a one-line message). */
  readonly failOutputBytes?: number;
  /** Whether destroying it fails, per destroy attempt. */
  readonly failDestroy?: SimFailMode;
  /** How long destroying it takes. */
  readonly destroyMs?: number;
  /** Whether stopping it fails, per stop attempt. */
  readonly failStop?: SimFailMode;
  /** Each start gives it a new PublicIP. */
  readonly newPublicIp?: boolean;
  /** Stopped: its processes are gone, its disk and its Id are kept. */
  readonly stopped?: boolean;
  /** Starts after a stop so far. */
  readonly starts?: number;
  /** Stop attempts so far (for `fail_stop: once`). */
  readonly stopAttempts?: number;
  readonly artifacts: ServerArtifacts;
}

/** What is kept per (stack, server): the attempts made so far survive `destroy`, so `once` stays once. */
interface SimServerFile {
  readonly stackId: string;
  readonly server: string;
  readonly attempts: number;
  /** Destroy attempts so far (for `fail_destroy: once`). */
  readonly destroyAttempts?: number;
  readonly current?: SimServerRecord;
}

/**
 * Parses the sim provider's template options.
 * @throws ProviderRequestError naming the option, the value found and what was expected.
 */
export function parseSimOptions(options: Readonly<Record<string, unknown>>): SimOptions {
  const bootMs = options.boot_ms ?? 0;
  if (typeof bootMs !== "number" || !Number.isInteger(bootMs) || bootMs < 0) {
    throw new ProviderRequestError(
      `sim option boot_ms is ${JSON.stringify(bootMs)}; expected a whole number of milliseconds, 0 or more`,
    );
  }
  const fail = options.fail ?? false;
  const seed = options.seed ?? 0;
  if (typeof seed !== "number" && typeof seed !== "string") {
    throw new ProviderRequestError(
      `sim option seed is ${JSON.stringify(seed)}; expected a number or a string`,
    );
  }
  const mode = (name: string, value: unknown): SimFailMode => {
    if (value === false) return { kind: "never" };
    if (value === true) return { kind: "always" };
    if (value === "once") return { kind: "once" };
    if (typeof value === "number" && value >= 0 && value <= 1)
      return { kind: "rate", rate: value, seed: String(seed) };
    throw new ProviderRequestError(
      `sim option ${name} is ${JSON.stringify(value)}; expected true, false, "once" or a failure rate from 0 to 1`,
    );
  };
  const destroyMs = options.destroy_ms ?? 0;
  if (typeof destroyMs !== "number" || !Number.isInteger(destroyMs) || destroyMs < 0) {
    throw new ProviderRequestError(
      `sim option destroy_ms is ${JSON.stringify(destroyMs)}; expected a whole number of milliseconds, 0 or more`,
    );
  }
  const failOutputBytes = options.fail_output_bytes ?? 0;
  if (typeof failOutputBytes !== "number" || !Number.isInteger(failOutputBytes) || failOutputBytes < 0) {
    throw new ProviderRequestError(
      `sim option fail_output_bytes is ${JSON.stringify(failOutputBytes)}; expected a whole number of bytes, 0 or more`,
    );
  }
  const rate = options.create_rate;
  const burst = options.create_burst;
  if (rate !== undefined && (typeof rate !== "number" || !(rate > 0) || !Number.isFinite(rate))) {
    throw new ProviderRequestError(
      `sim option create_rate is ${JSON.stringify(rate)}; expected a number of creates a second, more than 0`,
    );
  }
  if (burst !== undefined && (typeof burst !== "number" || !Number.isInteger(burst) || burst < 1)) {
    throw new ProviderRequestError(
      `sim option create_burst is ${JSON.stringify(burst)}; expected a whole number of creates, 1 or more`,
    );
  }
  if (burst !== undefined && rate === undefined) {
    throw new ProviderRequestError(
      "sim option create_burst needs create_rate: the limit is a rate with a burst",
    );
  }
  const newPublicIp = options.new_public_ip ?? false;
  if (typeof newPublicIp !== "boolean") {
    throw new ProviderRequestError(
      `sim option new_public_ip is ${JSON.stringify(newPublicIp)}; expected true or false`,
    );
  }
  return {
    bootMs,
    fail: mode("fail", fail),
    failOutputBytes,
    failDestroy: mode("fail_destroy", options.fail_destroy ?? false),
    destroyMs,
    failStop: mode("fail_stop", options.fail_stop ?? false),
    newPublicIp,
    ...(rate !== undefined
      ? { createLimit: { perSecond: rate, burst: (burst as number | undefined) ?? 1 } }
      : {}),
  };
}

/** Whether attempt `attempt` (1-based) of a server fails under `mode`: the same answer every time it is asked. */
export function simAttemptFails(
  mode: SimFailMode,
  stackId: string,
  server: string,
  attempt: number,
): boolean {
  switch (mode.kind) {
    case "never":
      return false;
    case "always":
      return true;
    case "once":
      return attempt === 1;
    case "rate": {
      // 52 bits of the hash give a uniform draw in [0, 1) that depends only on its inputs.
      const draw = Number.parseInt(
        hashOf("sim-fail", mode.seed, stackId, server, String(attempt)).slice(0, 13),
        16,
      );
      return draw / 2 ** 52 < mode.rate;
    }
  }
}

/**
 * The artifacts of a sim server: the same for a (stack, server) on every run; a later attempt (a
 * server made again after a failure, or replaced by an update) is a new server, with a new id and
 * address, as a cloud gives.
 */
export function simArtifacts(stackId: string, server: string, type: string, attempt = 1): ServerArtifacts {
  const hash =
    attempt <= 1 ? hashOf("sim", stackId, server) : hashOf("sim", stackId, server, String(attempt));
  const byte = (i: number): number => Number.parseInt(hash.slice(i * 2, i * 2 + 2), 16);
  const ip = `10.${byte(0)}.${byte(1)}.${1 + (byte(2) % 254)}`;
  return {
    Id: `sim-${hash.slice(0, 12)}`,
    IP: ip,
    PrivateIP: ip,
    PublicIP: ip,
    Hostname: server,
    Provider: "sim",
    Type: type,
    Region: "sim",
  };
}

/** The PublicIP a `new_public_ip` server has after its `starts`-th start. */
export function simPublicIp(stackId: string, server: string, starts: number): string {
  const hash = hashOf("sim-public", stackId, server, String(starts));
  const byte = (i: number): number => Number.parseInt(hash.slice(i * 2, i * 2 + 2), 16);
  return `198.${18 + (byte(0) % 2)}.${byte(1)}.${1 + (byte(2) % 254)}`;
}

class SimProvider implements Provider {
  readonly name = "sim" as const;
  readonly #stateDir: string | undefined;
  readonly #now: () => number;
  readonly #budget: RateBudget;
  readonly #createWaitMs: number;
  readonly #logs: ServerLogs | undefined;
  readonly #memory = new Map<string, SimServerFile>();
  readonly #mutex = new KeyedMutex();

  constructor(opts: SimProviderOptions) {
    this.#stateDir = opts.stateDir;
    this.#now = opts.now ?? Date.now;
    this.#budget = opts.budget ?? createMemoryRateBudget({ now: this.#now });
    this.#createWaitMs = opts.createWaitMs ?? 240_000;
    this.#logs = opts.logs;
  }

  /**
   * The attempt's scripted output: nothing runs, so the log shows the rendered user_data (masked
   * by the log's writer) and how it ends, kept as the attempt is made.
   */
  async #log(request: CreateServerRequest, current: SimServerRecord): Promise<void> {
    if (!this.#logs) return;
    const writer = await this.#logs.open(
      { team: request.team, stackId: request.stackId, subject: { kind: "server", name: request.server } },
      "user_data",
      request.secrets ?? [],
    );
    const body = request.userData.trimEnd();
    const lines = body === "" ? 0 : body.split("\n").length;
    writer.write(
      `[sim] user_data of ${request.server}, attempt ${current.attempt}: ${lines} line${lines === 1 ? "" : "s"}\n`,
    );
    if (body !== "") writer.write(`${body}\n`);
    if (current.fails)
      writer.write(`[sim] user_data failed on ${request.server} (attempt ${current.attempt})\n`);
    await writer.end(current.fails ? 1 : 0);
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    const options = parseSimOptions(request.options);
    const key = keyOf(request.stackId, request.server);
    return this.#mutex.run(key, async () => {
      const file = (await this.#load(key)) ?? {
        stackId: request.stackId,
        server: request.server,
        attempts: 0,
      };
      if (file.current?.token === request.idempotencyToken) return file.current.artifacts;
      if (options.createLimit) {
        const turn = await this.#budget.take(simCreateBudget(request.team), options.createLimit, {
          maxWaitMs: this.#createWaitMs,
        });
        if (!turn) {
          throw new ProviderThrottledError(
            `sim create of ${request.server}: more creates are queued than create_rate ${options.createLimit.perSecond} a second allows within ${this.#createWaitMs} ms; retry later`,
          );
        }
      }
      // A new token is a new attempt: it replaces whatever an earlier attempt left.
      const attempt = file.attempts + 1;
      const artifacts = simArtifacts(request.stackId, request.server, request.type, attempt);
      const current: SimServerRecord = {
        token: request.idempotencyToken,
        id: artifacts.Id,
        attempt,
        createdAt: this.#now(),
        bootMs: options.bootMs,
        fails: simAttemptFails(options.fail, request.stackId, request.server, attempt),
        ...(options.failOutputBytes > 0 ? { failOutputBytes: options.failOutputBytes } : {}),
        ...(options.failDestroy.kind !== "never" ? { failDestroy: options.failDestroy } : {}),
        ...(options.destroyMs > 0 ? { destroyMs: options.destroyMs } : {}),
        ...(options.failStop.kind !== "never" ? { failStop: options.failStop } : {}),
        ...(options.newPublicIp ? { newPublicIp: true } : {}),
        artifacts,
      };
      await this.#save(key, { ...file, attempts: attempt, current });
      // Best effort: a log that cannot be written does not stop the server.
      await this.#log(request, current).catch(() => undefined);
      return artifacts;
    });
  }

  async waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult> {
    signal?.throwIfAborted();
    const before = await this.#current(ref);
    if (!before) return gone(ref);
    const remaining = before.createdAt + before.bootMs - this.#now();
    if (remaining > 0) await delay(remaining, signal);
    // Destroyed or replaced while booting: that server never became ready.
    const after = await this.#current(ref);
    if (after?.token !== before.token) return gone(ref);
    if (!after.fails) return { ready: true };
    const line = `[sim] user_data failed on ${ref.server} (attempt ${after.attempt})\n`;
    return {
      ready: false,
      exitCode: 1,
      reason: `user_data failed on ${ref.server} (simulated failure, attempt ${after.attempt})`,
      output: line.repeat(Math.max(1, Math.ceil((after.failOutputBytes ?? 0) / line.length))),
    };
  }

  async runScript(
    ref: ServerRef,
    script: string,
    options: { readonly timeoutMs: number; readonly maxOutputBytes: number },
  ): Promise<ScriptResult> {
    const current = await this.#current(ref);
    if (!current) {
      throw new ServerNotFoundError(ref.stackId, ref.server, `no sim server with id ${ref.id}`);
    }
    if (current.stopped) {
      throw new ProviderRequestError(`sim server ${ref.server} (${ref.id}) is stopped; start it first`);
    }
    const body = script.trimEnd();
    const lines = body === "" ? 0 : body.split("\n").length;
    // Nothing runs: the output shows what would have, so a dry run shows the rendered script.
    const { text, truncated } = truncateUtf8(
      `[sim] ran ${lines} line${lines === 1 ? "" : "s"} on ${ref.server}\n${body === "" ? "" : `${body}\n`}`,
      options.maxOutputBytes,
    );
    return { exitCode: 0, output: text, truncated };
  }

  async destroy(ref: ServerRef): Promise<void> {
    const key = keyOf(ref.stackId, ref.server);
    await this.#mutex.run(key, async () => {
      const file = await this.#load(key);
      const current = file?.current;
      const mine =
        ref.id !== "" ? current?.id === ref.id : ref.token !== undefined && current?.token === ref.token;
      if (!file || !mine) return;
      if (current?.destroyMs) await delay(current.destroyMs);
      if (current?.failDestroy) {
        const attempt = (file.destroyAttempts ?? 0) + 1;
        if (simAttemptFails(current.failDestroy, ref.stackId, `${ref.server}#destroy`, attempt)) {
          await this.#save(key, { ...file, destroyAttempts: attempt });
          throw new ProviderRequestError(
            `sim server ${ref.server} (${current.id}) could not be destroyed (simulated failure, destroy attempt ${attempt})`,
          );
        }
      }
      const { current: _, destroyAttempts: __, ...rest } = file;
      await this.#save(key, rest);
    });
  }

  async stop(ref: ServerRef): Promise<void> {
    await this.#change(ref, "stop", async (file, current) => {
      if (current.stopped) return current;
      const attempt = (current.stopAttempts ?? 0) + 1;
      if (current.failStop && simAttemptFails(current.failStop, ref.stackId, `${ref.server}#stop`, attempt)) {
        await this.#save(keyOf(ref.stackId, ref.server), {
          ...file,
          current: { ...current, stopAttempts: attempt },
        });
        throw new ProviderRequestError(
          `sim server ${ref.server} (${current.id}) could not be stopped (simulated failure, stop attempt ${attempt})`,
        );
      }
      return { ...current, stopped: true, stopAttempts: attempt };
    });
  }

  async start(ref: ServerRef): Promise<ServerArtifacts> {
    const after = await this.#change(ref, "start", async (_file, current) => {
      if (!current.stopped) return current;
      const starts = (current.starts ?? 0) + 1;
      const artifacts = current.newPublicIp
        ? { ...current.artifacts, PublicIP: simPublicIp(ref.stackId, ref.server, starts) }
        : current.artifacts;
      return { ...current, stopped: false, starts, artifacts };
    });
    return after.artifacts;
  }

  /** Changes the current server of `ref` under its lock; a server that is not there is an error. */
  async #change(
    ref: ServerRef,
    verb: string,
    change: (file: SimServerFile, current: SimServerRecord) => Promise<SimServerRecord>,
  ): Promise<SimServerRecord> {
    const key = keyOf(ref.stackId, ref.server);
    return this.#mutex.run(key, async () => {
      const file = await this.#load(key);
      const current = file?.current;
      if (!file || !current || current.id !== ref.id) {
        throw new ServerNotFoundError(ref.stackId, ref.server, `no sim server with id ${ref.id} to ${verb}`);
      }
      const next = await change(file, current);
      if (next !== current) await this.#save(key, { ...file, current: next });
      return next;
    });
  }

  async #current(ref: ServerRef): Promise<SimServerRecord | undefined> {
    const current = (await this.#load(keyOf(ref.stackId, ref.server)))?.current;
    return current?.id === ref.id ? current : undefined;
  }

  async #load(key: string): Promise<SimServerFile | undefined> {
    if (this.#stateDir === undefined) return this.#memory.get(key);
    return readJsonFile<SimServerFile>(this.#pathOf(key));
  }

  async #save(key: string, file: SimServerFile): Promise<void> {
    if (this.#stateDir === undefined) this.#memory.set(key, file);
    else await writeFileAtomic(this.#pathOf(key), `${JSON.stringify(file, null, 2)}\n`);
  }

  #pathOf(key: string): string {
    return join(this.#stateDir ?? "", "sim", `${key}.json`);
  }
}

function keyOf(stackId: string, server: string): string {
  // Hashed so that any stack id or server name makes a safe file name.
  return hashOf(stackId, server).slice(0, 32);
}

function gone(ref: ServerRef): ReadyResult {
  return {
    ready: false,
    reason: `sim server ${ref.server} (${ref.id}) does not exist: it was destroyed or never created`,
  };
}

/** A sim server as created: when, and of which attempt (benchmarks read create times from here). */
export interface SimCreation {
  readonly stackId: string;
  readonly server: string;
  readonly attempt: number;
  /** Epoch milliseconds of the create. */
  readonly createdAt: number;
}

/** Every sim server that exists in a state directory, with its create time. */
export async function listSimCreations(stateDir: string): Promise<SimCreation[]> {
  const dir = join(stateDir, "sim");
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const out: SimCreation[] = [];
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    const file = await readJsonFile<SimServerFile>(join(dir, name));
    if (file?.current) {
      out.push({
        stackId: file.stackId,
        server: file.server,
        attempt: file.current.attempt,
        createdAt: file.current.createdAt,
      });
    }
  }
  return out;
}

/** Creates the `sim` provider: simulated servers with stable artifacts, a boot delay and chosen failures. */
export function createSimProvider(opts: SimProviderOptions = {}): Provider {
  return new SimProvider(opts);
}
