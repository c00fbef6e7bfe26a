import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { mkdir, open, readFile, rmdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import type {
  CreateServerRequest,
  Provider,
  ReadyResult,
  ScriptOptions,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
} from "../../ports/provider.ts";
import {
  hashOf,
  isErrno,
  KeyedMutex,
  readJsonFile,
  removeTree,
  writeFileAtomic,
} from "../../shared/state-files.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { leaseAddress, leasedAddresses, releaseAddress } from "./addresses.ts";
import { LocalSandboxError, SandboxNotRunningError, SandboxSetupError } from "./errors.ts";
import { holderScript } from "./holder-script.ts";
import { withLock } from "./lock.ts";
import { isAlive, killAndWait } from "./proc.ts";
import {
  type HolderInfo,
  readExitCode,
  readUserDataOutput,
  runInSandbox,
  type SandboxLayout,
  type SandboxRecord,
  type SandboxRequestFile,
  sandboxEnv,
  sandboxLayout,
  tailOf,
} from "./sandbox.ts";
import { detectLocalSupport, type LocalSupport, SANDBOX_PATH, unshareArgs } from "./support.ts";

export interface LocalProviderOptions {
  /** Sandboxes live under `<stateDir>/sandboxes/<stackId>/<server>/`, address leases under `<stateDir>/addresses/`. */
  readonly stateDir: string;
  /**
   * How a sandbox gets its own /etc, /home, /opt, /srv, /var (and /root, /run, /usr):
   * `overlay` (overlayfs, or fail), `copy` (copy directories up to `copyLimitBytes`), or `auto`
   * (default): overlayfs, falling back to a copy per directory when the kernel refuses it.
   */
  readonly filesystem?: "auto" | "overlay" | "copy";
  /** The largest directory the copy fallback copies (default 64 MiB). */
  readonly copyLimitBytes?: number;
  /** About how many bytes of user_data output a sandbox keeps (default 1 MiB): the first half, then the latest. */
  readonly outputLogBytes?: number;
  /** How long `create` waits for a sandbox's namespaces and filesystems (default 60 s). */
  readonly setupTimeoutMs?: number;
  /**
   * How often `waitUntilReady` checks that the sandbox still runs (default 2 s). The exit-code
   * file wakes it at once; this check only notices a sandbox killed from outside.
   */
  readonly livenessCheckMs?: number;
}

/** Directories a sandbox must have its own of; creating it fails when one cannot be isolated. */
const REQUIRED_DIRS = ["etc", "home", "opt", "srv", "var", "run"];
/** Directories isolated when possible (overlayfs, or a small copy), otherwise shared with the host. */
const OPTIONAL_DIRS = ["root", "usr"];

/** How many characters of user_data's output a failed ReadyResult carries. */
const READY_OUTPUT_CHARS = 4096;
/** How long create and destroy wait for another process's lock on the same server. */
const LOCK_WAIT_MS = 120_000;
const KILL_WAIT_MS = 10_000;

/** Names become directory names: keep them to what a template allows (and no `.`/`..`). */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The provider's own id of a sandbox: one per (stack, server, attempt token). */
export function localSandboxId(stackId: string, server: string, token: string): string {
  return `local-${hashOf("local", stackId, server, token).slice(0, 12)}`;
}

class LocalProvider implements Provider {
  readonly name = "local" as const;
  readonly #stateDir: string;
  readonly #filesystem: "auto" | "overlay" | "copy";
  readonly #copyLimitKb: number;
  readonly #logHeadBytes: number;
  readonly #logSegmentBytes: number;
  readonly #setupTimeoutMs: number;
  readonly #livenessCheckMs: number;
  readonly #mutex = new KeyedMutex();

  constructor(opts: LocalProviderOptions) {
    this.#stateDir = opts.stateDir;
    this.#filesystem = opts.filesystem ?? "auto";
    this.#copyLimitKb = Math.ceil((opts.copyLimitBytes ?? 64 * 1024 * 1024) / 1024);
    const logBytes = Math.max(1024, opts.outputLogBytes ?? 1024 * 1024);
    this.#logHeadBytes = Math.floor(logBytes / 2);
    this.#logSegmentBytes = Math.floor(logBytes / 4);
    this.#setupTimeoutMs = opts.setupTimeoutMs ?? 60_000;
    this.#livenessCheckMs = opts.livenessCheckMs ?? 2_000;
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    checkNames(request.stackId, request.server);
    const support = await detectLocalSupport();
    const layout = sandboxLayout(this.#stateDir, request.stackId, request.server);
    return this.#exclusive(layout, request.stackId, request.server, async () => {
      const existing = await readJsonFile<SandboxRecord>(layout.record);
      if (existing?.token === request.idempotencyToken && (await isAlive(existing.holder))) {
        return existing.artifacts;
      }
      // Anything else here is replaced: a sandbox from another attempt, one that no longer runs
      // (after a reboot), or a half-made one whose creator died. One server, one sandbox.
      await this.#teardown(layout, existing);
      return this.#build(request, support, layout);
    });
  }

  async waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult> {
    signal?.throwIfAborted();
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return gone(ref, "no such sandbox");
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    return new Promise<ReadyResult>((resolve, reject) => {
      let settled = false;
      let watcher: FSWatcher | undefined;
      let liveness: NodeJS.Timeout | undefined;
      let checking = false;
      let again = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        watcher?.close();
        clearInterval(liveness);
        signal?.removeEventListener("abort", onAbort);
        fn();
      };
      const onAbort = (): void => settle(() => reject(signal?.reason));
      const check = async (): Promise<void> => {
        if (settled) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const result = await this.#readiness(layout, ref);
            if (result) settle(() => resolve(result));
          } while (again && !settled);
        } catch (err) {
          settle(() => reject(err));
        } finally {
          checking = false;
        }
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      // Checked every few seconds only to notice a sandbox killed from outside: the exit-code
      // file's appearance wakes the watcher below at once.
      liveness = setInterval(() => void check(), this.#livenessCheckMs);
      try {
        watcher = watch(layout.dir, { persistent: true }, (_event, file) => {
          // user_data's output changes constantly and tells nothing about readiness.
          if (file !== null && (file.startsWith("output.") || file === "holder.log")) return;
          void check();
        });
        watcher.on("error", () => void check());
      } catch (err) {
        if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR")) {
          settle(() => reject(err));
          return;
        }
      }
      // The file may have appeared before the watch was armed.
      void check();
    });
  }

  async runScript(ref: ServerRef, script: string, options: ScriptOptions): Promise<ScriptResult> {
    checkNames(ref.stackId, ref.server);
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    const record = await readJsonFile<SandboxRecord>(layout.record);
    if (record?.id !== ref.id) {
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        record ? `its sandbox is ${record.id}, not ${ref.id}` : `no sandbox in ${layout.dir}`,
      );
    }
    if (!(await isAlive(record.holder))) {
      throw new SandboxNotRunningError(
        `sandbox ${record.id} of server \`${ref.server}\` is not running (its holder, process ${record.holder.pid}, is gone); destroy it and create it again`,
      );
    }
    const support = await detectLocalSupport();
    return runInSandbox(
      {
        nsenter: support.nsenter,
        bash: support.bash,
        mode: record.mode,
        holder: record.holder,
        ioDir: layout.io,
        env: { ...sandboxEnv(record, record.mode, support.bash, SANDBOX_PATH, homedir()), ...options.env },
      },
      script,
      options,
    );
  }

  async destroy(ref: ServerRef): Promise<void> {
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return;
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    await this.#exclusive(layout, ref.stackId, ref.server, async () => {
      const record = await readJsonFile<SandboxRecord>(layout.record);
      const request = record ?? (await readJsonFile<SandboxRequestFile>(layout.request));
      // Another attempt's sandbox: not the one the caller means. Without an id (a create whose
      // answer was lost) the token names it.
      const mine =
        ref.id !== "" ? request?.id === ref.id : ref.token !== undefined && request?.token === ref.token;
      if (request && !mine) return;
      await this.#teardown(layout, record);
      const addresses = request
        ? [request.address]
        : await leasedAddresses(this.#stateDir, ref.stackId, ref.server);
      for (const address of addresses) await releaseAddress(this.#stateDir, address, ref.stackId, ref.server);
    });
    await rmdir(layout.stackDir).catch(() => undefined);
  }

  /** Runs `fn` alone for this server: in this process (mutex) and across processes (lock file). */
  #exclusive<T>(layout: SandboxLayout, stackId: string, server: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(layout.dir, async () => {
      await mkdir(layout.stackDir, { recursive: true });
      return withLock(
        layout.lock,
        `the sandbox of server \`${server}\` (stack \`${stackId}\`)`,
        LOCK_WAIT_MS,
        fn,
      );
    });
  }

  async #build(
    request: CreateServerRequest,
    support: LocalSupport,
    layout: SandboxLayout,
  ): Promise<ServerArtifacts> {
    const address = await leaseAddress(this.#stateDir, request.stackId, request.server);
    const id = localSandboxId(request.stackId, request.server, request.idempotencyToken);
    const artifacts: ServerArtifacts = {
      Id: id,
      IP: address,
      PrivateIP: address,
      PublicIP: address,
      Hostname: request.server,
      Provider: "local",
      Type: request.type,
      Region: "local",
    };
    const file: SandboxRequestFile = {
      stackId: request.stackId,
      server: request.server,
      token: request.idempotencyToken,
      id,
      address,
      type: request.type,
      createdAt: Date.now(),
      outputMark: `[teamstack] user_data exited ${randomBytes(8).toString("hex")}`,
    };
    try {
      await mkdir(layout.io, { recursive: true });
      await writeFileAtomic(layout.request, `${JSON.stringify(file, null, 2)}\n`);
      await writeFile(layout.holderScript, holderScript());
      const direct = request.userData.startsWith("#!");
      await writeFile(layout.userData, request.userData, { mode: direct ? 0o755 : 0o644 });
      await this.#startHolder(file, support, layout, direct);
      const holder = await readJsonFile<HolderInfo>(layout.holder);
      if (!holder)
        throw new SandboxSetupError(`the holder of ${layout.dir} reported ready without writing holder.json`);
      const record: SandboxRecord = { ...file, mode: support.mode, holder, artifacts };
      await writeFileAtomic(layout.record, `${JSON.stringify(record, null, 2)}\n`);
      return artifacts;
    } catch (err) {
      await this.#teardown(layout, undefined).catch(() => undefined);
      await releaseAddress(this.#stateDir, address, request.stackId, request.server).catch(() => undefined);
      throw err;
    }
  }

  /** Starts the holder detached (its own session, so it outlives this process) and waits for its `ready`. */
  async #startHolder(
    file: SandboxRequestFile,
    support: LocalSupport,
    layout: SandboxLayout,
    direct: boolean,
  ): Promise<void> {
    const userEnv = sandboxEnv(file, support.mode, support.bash, SANDBOX_PATH, homedir());
    const env: Record<string, string> = {
      PATH: SANDBOX_PATH,
      LANG: "C.UTF-8",
      TEAMSTACK_SERVER: file.server,
      TEAMSTACK_IP: file.address,
      TS_REQUIRED_DIRS: REQUIRED_DIRS.join(" "),
      TS_OPTIONAL_DIRS: OPTIONAL_DIRS.join(" "),
      TS_FS_MODE: this.#filesystem,
      TS_COPY_LIMIT_KB: String(this.#copyLimitKb),
      TS_LOG_HEAD_BYTES: String(this.#logHeadBytes),
      TS_LOG_SEGMENT_BYTES: String(this.#logSegmentBytes),
      TS_SHELL: support.bash,
      TS_UD_EXEC: direct ? "1" : "0",
      TS_OUTPUT_MARK: file.outputMark,
    };
    for (const [name, value] of Object.entries(userEnv)) env[`TSENV_${name}`] = value;

    const log = await open(layout.holderLog, "a");
    let child: ChildProcess;
    try {
      child = spawn(
        support.unshare,
        [
          ...unshareArgs(support.mode),
          "--",
          support.bash,
          "holder.sh",
          "teamstack-sandbox",
          `${file.stackId}/${file.server}`,
        ],
        { cwd: layout.dir, env, stdio: ["ignore", "pipe", log.fd], detached: true },
      );
    } finally {
      await log.close();
    }
    try {
      await handshake(child, this.#setupTimeoutMs);
    } catch (err) {
      const said = await readHolderLog(layout);
      throw new SandboxSetupError(
        `cannot set up the sandbox of server \`${file.server}\` (stack \`${file.stackId}\`): ${said || (err as Error).message}`,
        { cause: err },
      );
    } finally {
      child.stdout?.destroy();
      child.unref();
    }
  }

  async #readiness(layout: SandboxLayout, ref: ServerRef): Promise<ReadyResult | undefined> {
    const record = await readJsonFile<SandboxRecord>(layout.record);
    if (!record) {
      const request = await readJsonFile<SandboxRequestFile>(layout.request);
      const holder = await readJsonFile<HolderInfo>(layout.holder);
      // Still being created by someone: wait for it.
      if (request?.id === ref.id && holder && (await isAlive(holder))) return undefined;
      return gone(ref, `no sandbox in ${layout.dir}`);
    }
    if (record.id !== ref.id) return gone(ref, `the server's sandbox is now ${record.id}`);
    const exitCode = await readExitCode(layout);
    const alive = await isAlive(record.holder);
    if (exitCode === undefined && alive) return undefined;
    const output = tailOf((await readUserDataOutput(layout.dir, record.outputMark)).text, READY_OUTPUT_CHARS);
    if (!alive) {
      return {
        ready: false,
        reason: `sandbox ${record.id} of server \`${ref.server}\` stopped (its holder, process ${record.holder.pid}, is gone)${exitCode === undefined ? " before user_data finished" : ""}`,
        ...(exitCode === undefined ? {} : { exitCode }),
        output,
      };
    }
    if (exitCode === 0) return { ready: true };
    if (exitCode === undefined) return undefined;
    return {
      ready: false,
      exitCode,
      reason: `user_data of server \`${ref.server}\` exited with code ${exitCode}`,
      output,
    };
  }

  /**
   * Kills the sandbox's holder (the kernel then kills every process in its PID namespace, and its
   * mounts go with its mount namespace), waits for that, and removes its directory.
   */
  async #teardown(layout: SandboxLayout, record: SandboxRecord | undefined): Promise<void> {
    const holder = record?.holder ?? (await readJsonFile<HolderInfo>(layout.holder).catch(() => undefined));
    if (holder) {
      if (!(await killAndWait(holder, KILL_WAIT_MS))) {
        throw new LocalSandboxError(
          `cannot stop the sandbox in ${layout.dir}: its holder, process ${holder.pid}, survived SIGKILL for ${KILL_WAIT_MS} ms`,
        );
      }
      // `unshare` exits as soon as its child has; wait so that nothing is left when we return.
      await killAndWait({ pid: holder.launcherPid, startTime: holder.launcherStartTime }, KILL_WAIT_MS);
    }
    await removeTree(layout.dir);
  }
}

/** Waits for the holder's `ready` line; rejects if it exits first or takes longer than `timeoutMs`. */
function handshake(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString("utf8");
      if (seen.includes("ready\n")) done();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      done(new Error(`the holder exited (${code ?? signal}) before the sandbox was ready`));
    const timer = setTimeout(
      () => done(new Error(`the holder was not ready after ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", done);
  });
}

/** The holder's own messages (lines it starts with `teamstack:`), or its whole log when it has none. */
async function readHolderLog(layout: SandboxLayout): Promise<string> {
  const text = await readFile(layout.holderLog, "utf8").catch(() => "");
  const own = text
    .split("\n")
    .filter((line) => line.startsWith("teamstack: "))
    .map((line) => line.slice("teamstack: ".length));
  return (own.length > 0 ? own.join("; ") : text.trim()).slice(0, 2000);
}

function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

function checkNames(stackId: string, server: string): void {
  for (const [what, value] of [
    ["stack id", stackId],
    ["server name", server],
  ] as const) {
    if (!isSafeName(value)) {
      throw new ProviderRequestError(
        `the local provider cannot use the ${what} ${JSON.stringify(value)}: expected 1 to 128 letters, digits, \`_\`, \`.\` or \`-\`, not starting with \`.\` or \`-\``,
      );
    }
  }
}

function gone(ref: ServerRef, detail: string): ReadyResult {
  return { ready: false, reason: `server \`${ref.server}\` (${ref.id}) does not exist: ${detail}` };
}

/**
 * Creates the `local` provider: each server is a sandbox on this machine with its own loopback
 * address, its own /etc, /home, /opt, /srv, /var and /tmp, and its own PID namespace.
 * Call {@link checkLocalSupport} first to report a machine that cannot make sandboxes.
 */
export function createLocalProvider(opts: LocalProviderOptions): Provider {
  return new LocalProvider(opts);
}
