import { join } from "node:path";
import type {
  CreateServerRequest,
  Provider,
  ReadyResult,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
} from "../../ports/provider.ts";
import { hashOf, KeyedMutex, readJsonFile, writeFileAtomic } from "../../shared/state-files.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { delay, truncateUtf8 } from "../timing.ts";

/**
 * The `sim` provider: servers that exist only as records, for dry runs, tests and benchmarks.
 *
 * Template options: `boot_ms` (create to ready, default 0), `fail` (`true`, `"once"`, or a rate
 * 0..1 drawn deterministically from `seed`, the stack, the server and the attempt).
 */

export interface SimProviderOptions {
  /** Where servers and attempt counts are kept so that they hold across processes; in memory when absent. */
  readonly stateDir?: string;
  /** The clock, in epoch milliseconds (default `Date.now`). */
  readonly now?: () => number;
}

/** The `fail` option, parsed. */
export type SimFailMode =
  | { readonly kind: "never" | "always" | "once" }
  | { readonly kind: "rate"; readonly rate: number; readonly seed: string };

/** The template options the sim provider understands, parsed and checked. */
export interface SimOptions {
  readonly bootMs: number;
  readonly fail: SimFailMode;
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
  readonly artifacts: ServerArtifacts;
}

/** What is kept per (stack, server): the attempts made so far survive `destroy`, so `once` stays once. */
interface SimServerFile {
  readonly stackId: string;
  readonly server: string;
  readonly attempts: number;
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
  let mode: SimFailMode;
  if (fail === false) mode = { kind: "never" };
  else if (fail === true) mode = { kind: "always" };
  else if (fail === "once") mode = { kind: "once" };
  else if (typeof fail === "number" && fail >= 0 && fail <= 1)
    mode = { kind: "rate", rate: fail, seed: String(seed) };
  else {
    throw new ProviderRequestError(
      `sim option fail is ${JSON.stringify(fail)}; expected true, false, "once" or a failure rate from 0 to 1`,
    );
  }
  return { bootMs, fail: mode };
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

/** The artifacts of a sim server: the same for a (stack, server) on every run and every attempt. */
export function simArtifacts(stackId: string, server: string, type: string): ServerArtifacts {
  const hash = hashOf("sim", stackId, server);
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

class SimProvider implements Provider {
  readonly name = "sim" as const;
  readonly #stateDir: string | undefined;
  readonly #now: () => number;
  readonly #memory = new Map<string, SimServerFile>();
  readonly #mutex = new KeyedMutex();

  constructor(opts: SimProviderOptions) {
    this.#stateDir = opts.stateDir;
    this.#now = opts.now ?? Date.now;
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
      // A new token is a new attempt: it replaces whatever an earlier attempt left.
      const attempt = file.attempts + 1;
      const artifacts = simArtifacts(request.stackId, request.server, request.type);
      const current: SimServerRecord = {
        token: request.idempotencyToken,
        id: artifacts.Id,
        attempt,
        createdAt: this.#now(),
        bootMs: options.bootMs,
        fails: simAttemptFails(options.fail, request.stackId, request.server, attempt),
        artifacts,
      };
      await this.#save(key, { ...file, attempts: attempt, current });
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
    return {
      ready: false,
      exitCode: 1,
      reason: `user_data failed on ${ref.server} (simulated failure, attempt ${after.attempt})`,
      output: `[sim] user_data failed on ${ref.server} (attempt ${after.attempt})\n`,
    };
  }

  async runScript(
    ref: ServerRef,
    script: string,
    options: { readonly timeoutMs: number; readonly maxOutputBytes: number },
  ): Promise<ScriptResult> {
    if (!(await this.#current(ref))) {
      throw new ServerNotFoundError(ref.stackId, ref.server, `no sim server with id ${ref.id}`);
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
      const { current: _, ...rest } = file;
      await this.#save(key, rest);
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

/** Creates the `sim` provider: simulated servers with stable artifacts, a boot delay and chosen failures. */
export function createSimProvider(opts: SimProviderOptions = {}): Provider {
  return new SimProvider(opts);
}
