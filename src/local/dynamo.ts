import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { Agent } from "node:http";
import { connect as connectSocket, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { createTable } from "../store/table.ts";
import { LocalStoreError } from "./dynamo/errors.ts";
import {
  createFileExclusive,
  type DaemonInfo,
  isRunning,
  readDaemonInfo,
  readJson,
  type StorePaths,
  sleep,
  storePaths,
} from "./dynamo/files.ts";
import { ping } from "./dynamo/ping.ts";
import { openStateDir } from "./state-dir.ts";

/** The table every local teamstack process uses. */
export const LOCAL_TABLE_NAME = "teamstack";

const DAEMON_FILE = fileURLToPath(new URL("./dynamo/daemon.ts", import.meta.url));
/** Starting a daemon takes a second or two; a busy machine may take many more. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** A lock older than this belongs to a starter that hung or died: starting takes well under it. */
const STALE_LOCK_MS = 30_000;
/** daemon.log is rotated once it grows past this, when a new daemon starts. */
const LOG_ROTATE_BYTES = 1_000_000;
/** How many daemons one call may start before it gives up (each failed start is in daemon.log). */
const MAX_STARTS = 3;

/** A connection to the state directory's store daemon. */
export interface LocalStore {
  /** The daemon's unix socket. */
  readonly socket: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** The daemon's process id. */
  readonly pid: number;
  /**
   * Stops keeping the daemon alive and closes the client. While a handle is open it pings the
   * daemon more often than its idle limit, so a long quiet wait (a slow server boot) does not lose it.
   */
  close(): void;
}

export interface EnsureLocalStoreOptions {
  /** How long to wait for a daemon to start or answer (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Idle limit of a daemon this call starts (default `TEAMSTACK_STORE_IDLE_MS`, else 10 minutes);
   * a daemon already running keeps its own.
   */
  readonly idleMs?: number;
}

/**
 * Connects to the store daemon of `stateDir`, starting it if none runs, and creates the table
 * if it is missing. Safe to call from several processes at once: they share one daemon.
 * @throws LocalStoreError when no daemon answers in time; the message points at daemon.log.
 */
export async function ensureLocalStore(
  stateDir: string,
  options: EnsureLocalStoreOptions = {},
): Promise<LocalStore> {
  await openStateDir(stateDir);
  const paths = storePaths(stateDir);
  await mkdir(paths.dir, { mode: 0o700 }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let starts = 0;
  let lastState = "no daemon.json";
  for (;;) {
    const found = await findDaemon(paths);
    if (found.state === "live") return connect(found.info);
    lastState =
      found.state === "busy" ? `pid ${found.info.pid} does not answer on ${found.info.socket}` : lastState;
    if (Date.now() > deadline) {
      throw new LocalStoreError(
        `the local store did not start within ${timeoutMs} ms (${lastState}); see ${paths.log}${await logTail(paths)}`,
      );
    }
    if (found.state === "busy") {
      await sleep(100);
      continue;
    }
    const lock = await takeLock(paths);
    if (lock === undefined) {
      await sleep(25 + Math.random() * 25); // another process is starting it
      continue;
    }
    try {
      const again = await findDaemon(paths);
      if (again.state === "live") return await connect(again.info);
      if (again.state === "busy") continue;
      if (starts >= MAX_STARTS) {
        throw new LocalStoreError(
          `the local store daemon exited ${starts} times while starting; see ${paths.log}${await logTail(paths)}`,
        );
      }
      starts++;
      const child = await spawnDaemon(stateDir, paths, options.idleMs);
      const info = await waitForDaemon(paths, child, deadline);
      if (info !== undefined) return await connect(info);
      lastState = `the daemon started as pid ${child.pid} exited`;
    } finally {
      await releaseLock(paths, lock);
    }
  }
}

/**
 * Stops the state directory's store daemon (SIGTERM, then SIGKILL if it has not exited in time)
 * and waits until it has exited.
 * @returns whether a running daemon was stopped.
 */
export async function stopLocalStore(
  stateDir: string,
  options: { readonly timeoutMs?: number } = {},
): Promise<boolean> {
  const paths = storePaths(stateDir);
  const info = await readDaemonInfo(paths.info);
  if (info === undefined) return false;
  if (!(await isRunning(info.pid))) {
    await removeInfoOf(paths, info.pid);
    return false;
  }
  signal(info.pid, "SIGTERM");
  if (!(await waitForExit(info.pid, options.timeoutMs ?? DEFAULT_TIMEOUT_MS))) {
    signal(info.pid, "SIGKILL");
    await waitForExit(info.pid, 2_000);
  }
  await removeInfoOf(paths, info.pid);
  return true;
}

/** How long a client keeps an idle connection; the daemon keeps it 60 s. */
const CLIENT_IDLE_MS = 15_000;

/**
 * An HTTP agent whose every connection goes to one unix socket, whatever host a request names.
 * It closes idle connections before the daemon does: a request sent on a connection the daemon
 * is closing fails with EPIPE, and a burst of them used up the SDK's retries.
 */
class SocketAgent extends Agent {
  readonly #socket: string;
  constructor(socket: string) {
    super({ keepAlive: true, timeout: CLIENT_IDLE_MS });
    this.#socket = socket;
  }
  override createConnection(): Socket {
    return connectSocket(this.#socket);
  }
}

/**
 * The SDK client for a local daemon, over its unix socket: fixed dummy credentials, short
 * connect timeout, few retries.
 */
export function localClient(socket: string): DynamoDBClient {
  return new DynamoDBClient({
    // Only names the Host header: the agent connects to the socket.
    endpoint: "http://localhost",
    region: "local",
    credentials: { accessKeyId: "teamstack", secretAccessKey: "local" },
    // Retries cover a keep-alive connection the daemon closed; more would only delay the error.
    maxAttempts: 3,
    requestHandler: { httpAgent: new SocketAgent(socket), connectionTimeout: 2_000, requestTimeout: 30_000 },
  });
}

type Found =
  | { readonly state: "live"; readonly info: DaemonInfo }
  | { readonly state: "busy"; readonly info: DaemonInfo }
  | { readonly state: "none" };

async function findDaemon(paths: StorePaths): Promise<Found> {
  const info = await readDaemonInfo(paths.info);
  if (info === undefined || !(await isRunning(info.pid))) return { state: "none" };
  const answer = await ping(info.socket, 2_000);
  if (answer === "ok") return { state: "live", info };
  // Alive but slow: starting another would fail on the LevelDB lock, so wait for this one.
  if (answer === "timeout") return { state: "busy", info };
  return { state: "none" }; // the pid was reused, or the daemon is shutting down
}

async function connect(info: DaemonInfo): Promise<LocalStore> {
  const client = localClient(info.socket);
  try {
    await createTable(client, LOCAL_TABLE_NAME, { timeoutMs: DEFAULT_TIMEOUT_MS });
  } catch (err) {
    client.destroy();
    throw err;
  }
  const everyMs = Math.max(100, Math.min(60_000, info.idleMs / 3));
  const heartbeat = setInterval(() => {
    client.send(new ListTablesCommand({ Limit: 1 })).catch(() => undefined);
  }, everyMs);
  heartbeat.unref();
  let closed = false;
  return {
    socket: info.socket,
    client,
    tableName: LOCAL_TABLE_NAME,
    pid: info.pid,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      client.destroy();
    },
  };
}

async function spawnDaemon(
  stateDir: string,
  paths: StorePaths,
  idleMs: number | undefined,
): Promise<ChildProcess> {
  await rotateLog(paths);
  const log = await open(paths.log, "a");
  try {
    const env = { ...process.env };
    if (idleMs !== undefined) env.TEAMSTACK_STORE_IDLE_MS = String(idleMs);
    const child = spawn(process.execPath, [DAEMON_FILE, stateDir], {
      detached: true,
      stdio: ["ignore", log.fd, log.fd],
      env,
    });
    child.unref();
    // A spawn failure (no such executable) arrives as an event; waitForDaemon sees the exit.
    child.on("error", () => undefined);
    return child;
  } finally {
    await log.close();
  }
}

/** Waits until a live daemon has published daemon.json; undefined when the one we started died. */
async function waitForDaemon(
  paths: StorePaths,
  child: ChildProcess,
  deadline: number,
): Promise<DaemonInfo | undefined> {
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  for (;;) {
    const found = await findDaemon(paths);
    if (found.state === "live") return found.info;
    if (exited || child.exitCode !== null) return undefined;
    if (Date.now() > deadline) {
      throw new LocalStoreError(
        `the local store daemon (pid ${child.pid}) did not come up in time; see ${paths.log}${await logTail(paths)}`,
      );
    }
    await sleep(20);
  }
}

interface LockContent {
  readonly pid: number;
  readonly token: string;
  readonly at: number;
}

/** Takes daemon.lock, clearing a stale one; undefined when another live process holds it. */
async function takeLock(paths: StorePaths): Promise<string | undefined> {
  const token = randomBytes(8).toString("hex");
  const content: LockContent = { pid: process.pid, token, at: Date.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createFileExclusive(paths.lock, JSON.stringify(content))) return token;
    const held = (await readJson(paths.lock)) as Partial<LockContent> | undefined;
    const stale =
      held === undefined ||
      typeof held.pid !== "number" ||
      typeof held.at !== "number" ||
      Date.now() - held.at > STALE_LOCK_MS ||
      !(await isRunning(held.pid));
    if (!stale) return undefined;
    // Two callers may both clear it; the LevelDB lock still keeps a second daemon from running.
    await rm(paths.lock, { force: true });
  }
  return undefined;
}

async function releaseLock(paths: StorePaths, token: string): Promise<void> {
  const held = (await readJson(paths.lock)) as Partial<LockContent> | undefined;
  if (held?.token === token) await rm(paths.lock, { force: true });
}

async function removeInfoOf(paths: StorePaths, pid: number): Promise<void> {
  const info = await readDaemonInfo(paths.info);
  if (info?.pid === pid) await rm(paths.info, { force: true });
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function rotateLog(paths: StorePaths): Promise<void> {
  const size = await stat(paths.log).then(
    (s) => s.size,
    () => 0,
  );
  if (size > LOG_ROTATE_BYTES) await rename(paths.log, `${paths.log}.1`).catch(() => undefined);
}

/** The last lines of daemon.log, for error messages. */
async function logTail(paths: StorePaths): Promise<string> {
  const text = await readFile(paths.log, "utf8").catch(() => "");
  const lines = text.trimEnd().split("\n").slice(-5).join("\n  ");
  return lines === "" ? "" : `; its last lines:\n  ${lines}`;
}
