import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readFile, readlink, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { createFileExclusive, isErrno, writeFileAtomic } from "../../shared/state-files.ts";
import { LocalStoreError } from "./errors.ts";

export { createFileExclusive, isErrno, writeFileAtomic };

/** Where the local store keeps its files under a state directory. */
export interface StorePaths {
  readonly dir: string;
  /** `{ pid, socket, startedAt, idleMs }` of the running daemon, written atomically once it answers. */
  readonly info: string;
  /** Held (exclusive create) by the process that is starting a daemon. */
  readonly lock: string;
  readonly log: string;
  /** dynalite's LevelDB folder. */
  readonly db: string;
  /** The daemon's unix socket (mode 0600, in this 0700 folder). */
  readonly socket: string;
}

export function storePaths(stateDir: string): StorePaths {
  const dir = join(stateDir, "store");
  return {
    dir,
    info: join(dir, "daemon.json"),
    lock: join(dir, "daemon.lock"),
    log: join(dir, "daemon.log"),
    db: join(dir, "db"),
    socket: join(dir, "daemon.sock"),
  };
}

export interface DaemonInfo {
  readonly pid: number;
  /** The path clients connect to: the store folder's socket, or the same through a short alias. */
  readonly socket: string;
  readonly startedAt: string;
  /** The daemon exits after this long without requests; clients ping more often than that. */
  readonly idleMs: number;
}

export async function readDaemonInfo(path: string): Promise<DaemonInfo | undefined> {
  const json = await readJson(path);
  if (typeof json !== "object" || json === null) return undefined;
  const { pid, socket, startedAt, idleMs } = json as Record<string, unknown>;
  if (typeof pid !== "number" || typeof socket !== "string" || typeof startedAt !== "string")
    return undefined;
  return { pid, socket, startedAt, idleMs: typeof idleMs === "number" ? idleMs : 600_000 };
}

/** Linux keeps a unix socket's path in 108 bytes, the final NUL included. */
const MAX_SOCKET_PATH = 107;

/**
 * The path to bind or reach the store folder's socket by. A state directory deep enough to make
 * `<store>/daemon.sock` longer than a socket path may be is reached through a short symbolic
 * link, `<runtime>/teamstack-<uid>/<hash of the store folder>` (runtime: `$XDG_RUNTIME_DIR`,
 * else /tmp), in a folder only this user may enter; the socket itself stays in the store folder.
 * @throws LocalStoreError when that folder exists but is not this user's alone.
 */
export async function socketAddress(
  paths: StorePaths,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (Buffer.byteLength(paths.socket) <= MAX_SOCKET_PATH) return paths.socket;
  const uid = process.getuid?.() ?? 0;
  const name = createHash("sha256").update(paths.dir).digest("hex").slice(0, 16);
  const runtime = env.XDG_RUNTIME_DIR;
  const base = runtime?.startsWith("/") && Buffer.byteLength(runtime) <= 40 ? runtime : "/tmp";
  const aliases = join(base, `teamstack-${uid}`);
  await mkdir(aliases, { mode: 0o700 }).catch((err: unknown) => {
    if (!isErrno(err, "EEXIST")) throw err;
  });
  const st = await lstat(aliases);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new LocalStoreError(
      `${aliases} (where teamstack links a deep state directory's store socket) is not a folder of user ${uid} with mode 0700; remove it, or use a shorter --state-dir`,
    );
  }
  const alias = join(aliases, name);
  for (let attempt = 0; attempt < 3; attempt++) {
    const target = await readlink(alias).catch(() => undefined);
    if (target === paths.dir) return join(alias, "daemon.sock");
    if (attempt > 0 && target !== undefined) break;
    await rm(alias, { force: true });
    await symlink(paths.dir, alias).catch((err: unknown) => {
      if (!isErrno(err, "EEXIST")) throw err; // another process made it: read it again
    });
  }
  throw new LocalStoreError(`${alias} does not stay a link to ${paths.dir}; remove it`);
}

/** Reads and parses a JSON file; undefined when it is missing or not (yet, or no longer) JSON. */
export async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    if (isErrno(err, "ENOENT") || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * True while process `pid` exists and is not a zombie (a killed daemon whose parent has not reaped
 * it yet, common in containers whose init does not reap, still answers signal 0).
 */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return isErrno(err, "EPERM");
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Format: "pid (comm) STATE ..."; comm may hold spaces and parentheses, so split at the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch (err) {
    // Gone between the signal and the read (a zombie reaped meanwhile: ENOENT, or ESRCH while it is
    // being reaped): not running. With no /proc at all (macOS), signal 0 is all we have.
    return !((isErrno(err, "ENOENT") || isErrno(err, "ESRCH")) && existsSync("/proc/self/stat"));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
