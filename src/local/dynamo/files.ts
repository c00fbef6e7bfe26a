import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createFileExclusive, isErrno, writeFileAtomic } from "../../shared/state-files.ts";

export { createFileExclusive, isErrno, writeFileAtomic };

/** Where the local store keeps its files under a state directory. */
export interface StorePaths {
  readonly dir: string;
  /** `{ pid, port, startedAt, idleMs }` of the running daemon, written atomically once it answers. */
  readonly info: string;
  /** Held (exclusive create) by the process that is starting a daemon. */
  readonly lock: string;
  readonly log: string;
  /** dynalite's LevelDB folder. */
  readonly db: string;
}

export function storePaths(stateDir: string): StorePaths {
  const dir = join(stateDir, "store");
  return {
    dir,
    info: join(dir, "daemon.json"),
    lock: join(dir, "daemon.lock"),
    log: join(dir, "daemon.log"),
    db: join(dir, "db"),
  };
}

export interface DaemonInfo {
  readonly pid: number;
  readonly port: number;
  readonly startedAt: string;
  /** The daemon exits after this long without requests; clients ping more often than that. */
  readonly idleMs: number;
}

export async function readDaemonInfo(path: string): Promise<DaemonInfo | undefined> {
  const json = await readJson(path);
  if (typeof json !== "object" || json === null) return undefined;
  const { pid, port, startedAt, idleMs } = json as Record<string, unknown>;
  if (typeof pid !== "number" || typeof port !== "number" || typeof startedAt !== "string") return undefined;
  return { pid, port, startedAt, idleMs: typeof idleMs === "number" ? idleMs : 600_000 };
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
  } catch {
    return true; // no /proc (macOS): signal 0 is all we have
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
