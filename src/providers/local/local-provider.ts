import { type ChildProcess, spawn } from "node:child_process";
import { type FSWatcher, watch } from "node:fs";
import { open, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { type AttemptFiles, type AttemptMeta, allocateAttempt, endAttempt } from "../../local/server-logs.ts";
import type {
  CreateServerRequest,
  Provider,
  ReadyResult,
  ScriptOptions,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
  ShellCommand,
} from "../../ports/provider.ts";
import {
  hashOf,
  isErrno,
  KeyedMutex,
  mkdirPrivate,
  readJsonFile,
  removeTree,
  writeFileAtomic,
} from "../../shared/state-files.ts";
import { ServerNotFoundError } from "../errors.ts";
import { checkServerNames, isSafeName, serverGone } from "../server-names.ts";
import { leaseAddress, leasedAddresses, releaseAddress } from "./addresses.ts";
import { LocalSandboxError, SandboxNotRunningError, SandboxSetupError } from "./errors.ts";
import { withLock } from "./lock.ts";
import { isAlive, killAndWait, type ProcessIdentity, waitForExit } from "./proc.ts";
import { buildRootfs, WRITABLE_DIRS } from "./rootfs.ts";
import {
  HOLDER_FDS,
  type HolderConfig,
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
  USER_DATA_PATH,
} from "./sandbox.ts";
import { localShellCommand } from "./shell.ts";
import { detectLocalSupport, ISOLATION_ARGS, type LocalSupport, sandboxUid, systemBinds } from "./support.ts";

export interface LocalProviderOptions {
  /** Sandboxes live under `<stateDir>/sandboxes/<stackId>/<server>/`, address leases under `<stateDir>/addresses/`. */
  readonly stateDir: string;
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

/** The holder is one Node process per sandbox, which mostly waits: keep its heap small. */
const HOLDER_NODE_FLAGS = ["--max-old-space-size=32", "--max-semi-space-size=1"];
const HOLDER = new URL("./holder-entry.js", import.meta.url).pathname;

/** How many characters of user_data's output a failed ReadyResult carries. */
const READY_OUTPUT_CHARS = 4096;
/** How long create and destroy wait for another process's lock on the same server. */
const LOCK_WAIT_MS = 120_000;
const KILL_WAIT_MS = 10_000;

/** Names become directory names: keep them to what a template allows (and no `.`/`..`). */

/** The provider's own id of a sandbox: one per (stack, server, attempt token). */
export function localSandboxId(stackId: string, server: string, token: string): string {
  return `local-${hashOf("local", stackId, server, token).slice(0, 12)}`;
}

class LocalProvider implements Provider {
  readonly name = "local" as const;
  readonly #stateDir: string;
  readonly #logHeadBytes: number;
  readonly #logSegmentBytes: number;
  readonly #setupTimeoutMs: number;
  readonly #livenessCheckMs: number;
  readonly #mutex = new KeyedMutex();

  constructor(opts: LocalProviderOptions) {
    this.#stateDir = opts.stateDir;
    const logBytes = Math.max(1024, opts.outputLogBytes ?? 1024 * 1024);
    this.#logHeadBytes = Math.floor(logBytes / 2);
    this.#logSegmentBytes = Math.floor(logBytes / 4);
    this.#setupTimeoutMs = opts.setupTimeoutMs ?? 60_000;
    this.#livenessCheckMs = opts.livenessCheckMs ?? 2_000;
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    checkServerNames("local", request.stackId, request.server);
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
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return serverGone(ref, "no such sandbox");
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
          if (file !== null && (file.startsWith("output.") || file === "holder.log" || file === "root"))
            return;
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
    checkServerNames("local", ref.stackId, ref.server);
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    const record = await readJsonFile<SandboxRecord>(layout.record);
    if (record?.id !== ref.id) {
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        record ? `its sandbox is ${record.id}, not ${ref.id}` : `no sandbox in ${layout.dir}`,
      );
    }
    if (record.stopped) {
      throw new SandboxNotRunningError(
        `sandbox ${record.id} of server \`${ref.server}\` is stopped; start it first (teamstack start)`,
      );
    }
    if (!(await isAlive(record.holder)) || !(await isAlive(record.holder.init))) {
      throw new SandboxNotRunningError(
        `sandbox ${record.id} of server \`${ref.server}\` is not running (its holder, process ${record.holder.pid}, is gone); destroy it and create it again`,
      );
    }
    const support = await detectLocalSupport();
    return runInSandbox(
      {
        support,
        request: record,
        init: record.holder.init,
        env: { ...sandboxEnv(record, support.bash), ...options.env },
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

  /** A shell inside the server's sandbox, entered as its scripts are (see shell.ts). */
  shell(ref: ServerRef, term: string | undefined): Promise<ShellCommand> {
    checkServerNames("local", ref.stackId, ref.server);
    return localShellCommand(this.#stateDir, ref, term);
  }

  /**
   * Stops the sandbox: every process in it ends (its init, bwrap and the holder are killed, as a
   * destroy does), while its directory, its files and its address lease stay. Stopping a stopped
   * sandbox does nothing.
   * @throws ServerNotFoundError when the server has no sandbox of that id.
   */
  async stop(ref: ServerRef): Promise<void> {
    checkServerNames("local", ref.stackId, ref.server);
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    await this.#exclusive(layout, ref.stackId, ref.server, async () => {
      const record = await this.#recordOf(layout, ref);
      if (record.stopped) return;
      await this.#kill(layout, record.holder);
      await writeFileAtomic(
        layout.record,
        `${JSON.stringify({ ...record, stopped: true } satisfies SandboxRecord, null, 2)}\n`,
      );
    });
  }

  /**
   * Starts a stopped sandbox again over its kept files, with the same id and address; user_data
   * does not run again (on_start is the pipeline's). A running sandbox is left as it is.
   * @throws ServerNotFoundError when the server has no sandbox of that id.
   */
  async start(ref: ServerRef): Promise<ServerArtifacts> {
    checkServerNames("local", ref.stackId, ref.server);
    const support = await detectLocalSupport();
    const layout = sandboxLayout(this.#stateDir, ref.stackId, ref.server);
    return this.#exclusive(layout, ref.stackId, ref.server, async () => {
      const record = await this.#recordOf(layout, ref);
      if (!record.stopped && (await isAlive(record.holder)) && (await isAlive(record.holder.init))) {
        return record.artifacts;
      }
      // A sandbox whose holder died (a reboot) comes back the same way: whatever is left is killed first.
      await this.#kill(layout, record.holder);
      const { mode: _mode, holder: _holder, artifacts: _artifacts, stopped: _stopped, ...file } = record;
      await this.#startHolder(
        {
          support,
          request: file,
          bwrapArgs: bwrapArgs(support, file, layout, false),
          userData: "",
          secrets: [],
          env: sandboxEnv(file, support.bash),
          logHeadBytes: this.#logHeadBytes,
          logSegmentBytes: this.#logSegmentBytes,
          restart: true,
        },
        layout,
      );
      const holder = await readJsonFile<HolderInfo>(layout.holder);
      if (!holder?.init)
        throw new SandboxSetupError(`the holder of ${layout.dir} reported ready without writing holder.json`);
      const started: SandboxRecord = { ...file, mode: support.mode, holder, artifacts: record.artifacts };
      await writeFileAtomic(layout.record, `${JSON.stringify(started, null, 2)}\n`);
      return record.artifacts;
    });
  }

  /** The complete sandbox of `ref`. @throws ServerNotFoundError when there is none of that id. */
  async #recordOf(layout: SandboxLayout, ref: ServerRef): Promise<SandboxRecord> {
    const record = await readJsonFile<SandboxRecord>(layout.record);
    if (!record || (ref.id !== "" && record.id !== ref.id)) {
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        record ? `its sandbox is ${record.id}, not ${ref.id}` : `no sandbox in ${layout.dir}`,
      );
    }
    return record;
  }

  /** Runs `fn` alone for this server: in this process (mutex) and across processes (lock file). */
  #exclusive<T>(layout: SandboxLayout, stackId: string, server: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(layout.dir, async () => {
      await mkdirPrivate(layout.stackDir);
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
    let attempt: { meta: AttemptMeta; files: AttemptFiles } | undefined;
    const own = support.mode === "root";
    const file: SandboxRequestFile = {
      stackId: request.stackId,
      server: request.server,
      token: request.idempotencyToken,
      id,
      address,
      uid: own ? sandboxUid(address) : (process.getuid?.() ?? 0),
      gid: own ? sandboxUid(address) : (process.getgid?.() ?? 0),
      type: request.type,
      createdAt: Date.now(),
    };
    try {
      await mkdirPrivate(layout.dir);
      await writeFileAtomic(layout.request, `${JSON.stringify(file, null, 2)}\n`);
      // Each user_data run is an attempt of the server's log, which the holder writes as it runs.
      attempt = await allocateAttempt(
        this.#stateDir,
        { team: request.team, stackId: request.stackId, subject: { kind: "server", name: request.server } },
        "user_data",
      );
      await buildRootfs(layout.root, file, own ? { uid: file.uid, gid: file.gid } : undefined);
      await this.#startHolder(
        {
          support,
          request: file,
          bwrapArgs: bwrapArgs(support, file, layout, request.userData.startsWith("#!")),
          userData: request.userData,
          secrets: request.secrets ?? [],
          env: sandboxEnv(file, support.bash),
          logHeadBytes: this.#logHeadBytes,
          logSegmentBytes: this.#logSegmentBytes,
          attemptLog: attempt,
        },
        layout,
      );
      const holder = await readJsonFile<HolderInfo>(layout.holder);
      if (!holder?.init)
        throw new SandboxSetupError(`the holder of ${layout.dir} reported ready without writing holder.json`);
      const record: SandboxRecord = { ...file, mode: support.mode, holder, artifacts };
      await writeFileAtomic(layout.record, `${JSON.stringify(record, null, 2)}\n`);
      return artifacts;
    } catch (err) {
      await this.#teardown(layout, undefined).catch(() => undefined);
      // The attempt's log ends here, saying why, instead of waiting for a holder that never ran.
      if (attempt)
        // Not the error itself: it names host paths, and the log is shown to members.
        await endAttempt(attempt, "the sandbox could not be set up; user_data did not run").catch(
          () => undefined,
        );
      await releaseAddress(this.#stateDir, address, request.stackId, request.server).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Starts the holder detached (its own session, so it outlives this process), sends it its
   * configuration on stdin, and waits for its `ready`.
   */
  async #startHolder(config: HolderConfig, layout: SandboxLayout): Promise<void> {
    await mkdirPrivate(layout.holderCache);
    const log = await open(layout.holderLog, "a", 0o600);
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [
          ...HOLDER_NODE_FLAGS,
          HOLDER,
          layout.holderCache,
          "teamstack-holder",
          `${config.request.stackId}/${config.request.server}`,
        ],
        {
          cwd: layout.dir,
          env: { PATH: process.env.PATH ?? "" },
          stdio: ["pipe", "pipe", log.fd],
          detached: true,
        },
      );
    } finally {
      await log.close();
    }
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(JSON.stringify(config));
    try {
      await handshake(child, this.#setupTimeoutMs);
    } catch (err) {
      const said = await readHolderLog(layout);
      throw new SandboxSetupError(
        `cannot set up the sandbox of server \`${config.request.server}\` (stack \`${config.request.stackId}\`): ${said || (err as Error).message}`,
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
      return serverGone(ref, `no sandbox in ${layout.dir}`);
    }
    if (record.id !== ref.id) return serverGone(ref, `the server's sandbox is now ${record.id}`);
    const exitCode = await readExitCode(layout);
    const alive = await isAlive(record.holder);
    if (exitCode === undefined && alive) return undefined;
    const output = tailOf((await readUserDataOutput(layout.dir)).text, READY_OUTPUT_CHARS);
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
    const holder =
      record?.holder ??
      (await readJsonFile<Partial<HolderInfo> & ProcessIdentity>(layout.holder).catch(() => undefined));
    await this.#kill(layout, holder);
    await removeTree(layout.dir);
  }

  /** Ends every process of the sandbox (see #teardown), keeping its files. */
  async #kill(
    layout: SandboxLayout,
    holder: (Partial<HolderInfo> & ProcessIdentity) | undefined,
  ): Promise<void> {
    // The sandbox's init first: the kernel then kills every other process of its PID namespace
    // and waits until they are all reaped, and bwrap (init's parent) reaps init and exits.
    // Killing bwrap or the holder first would leave init to the host's PID 1 to reap.
    const stop = async (proc: ProcessIdentity | undefined, kill: boolean): Promise<void> => {
      if (!proc) return;
      if (!kill && (await waitForExit(proc, KILL_WAIT_MS))) return;
      if (!(await killAndWait(proc, KILL_WAIT_MS))) {
        throw new LocalSandboxError(
          `cannot stop the sandbox in ${layout.dir}: process ${proc.pid} survived SIGKILL for ${KILL_WAIT_MS} ms`,
        );
      }
    };
    await stop(holder?.init, true);
    await stop(holder?.bwrap, holder?.init === undefined);
    await stop(holder, true);
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

/**
 * bwrap's arguments for a sandbox: every namespace but the network's, its own uid 0 with no
 * capabilities, the host's system directories read-only, its writable directories from root/
 * (bound from /tmp in root mode: see the holder), its own /proc, /dev and /run, and an init that
 * only reaps orphans and never exits.
 */
function bwrapArgs(
  support: LocalSupport,
  request: SandboxRequestFile,
  layout: SandboxLayout,
  direct: boolean,
): string[] {
  const source = (dir: string): string => (support.mode === "root" ? `/tmp/${dir}` : join(layout.root, dir));
  return [
    ...ISOLATION_ARGS,
    "--new-session",
    "--as-pid-1",
    "--hostname",
    request.server,
    ...systemBinds(),
    ...WRITABLE_DIRS.flatMap((dir) => ["--bind", source(dir), `/${dir}`]),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/run",
    "--perms",
    "0700",
    "--dir",
    "/run/teamstack",
    "--perms",
    direct ? "0700" : "0600",
    "--file",
    String(HOLDER_FDS.userData),
    USER_DATA_PATH,
    "--json-status-fd",
    String(HOLDER_FDS.status),
    "--chdir",
    "/",
    "--",
    support.bash,
    "-c",
    INIT,
    "teamstack-init",
  ];
}

/**
 * The sandbox's PID 1: tells the holder it runs (bwrap execs it only once the sandbox is set up;
 * its status fd names the init earlier), reaps orphans (bash waits for any child on SIGCHLD) and never exits, so
 * that what user_data starts keeps running. The kernel delivers no signal to a namespace's init
 * from inside the namespace unless it handles it: ignoring them all leaves only SIGCHLD.
 */
const INIT = `trap '' TERM INT HUP QUIT USR1 USR2 PIPE ALRM
echo started >&${HOLDER_FDS.started} && exec ${HOLDER_FDS.started}>&-
while :; do sleep 3600 & wait $!; done`;

/**
 * Creates the `local` provider: each server is a bubblewrap sandbox on this machine with its own
 * loopback address, its own /etc, /home, /root, /opt, /srv, /var and /tmp, the host's system
 * directories read-only, its own /proc and PID namespace, and no privilege on the host.
 * Call {@link checkLocalSupport} first to report a machine that cannot make sandboxes.
 */
export function createLocalProvider(opts: LocalProviderOptions): Provider {
  return new LocalProvider(opts);
}
