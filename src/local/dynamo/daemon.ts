/**
 * The local store daemon: one dynalite on `<stateDir>/store/db`, shared by every teamstack process
 * using that state directory (LevelDB cannot be opened twice). Started detached by
 * `ensureLocalStore`; run as `node daemon.ts <stateDir>`.
 *
 * It listens on the unix socket `store/daemon.sock` (mode 0600, in the 0700 state directory:
 * a member's server, which shares the host's network, has no port to reach it by), checks that
 * LevelDB opened, then publishes `store/daemon.json`. It exits, closing LevelDB cleanly, on SIGTERM/SIGINT or after
 * `TEAMSTACK_STORE_IDLE_MS` (default 10 minutes) without requests.
 */
import { chmod, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { dirname } from "node:path";
import dynalite from "dynalite";
import {
  type DaemonInfo,
  isErrno,
  readDaemonInfo,
  socketAddress,
  storePaths,
  writeFileAtomic,
} from "./files.ts";
import { ping } from "./ping.ts";

// The socket, the log and LevelDB's files are for this user only, whoever started the daemon.
process.umask(0o077);

const DEFAULT_IDLE_MS = 600_000;
/** After this long, a shutdown that has not finished closing LevelDB gives up. */
const SHUTDOWN_LIMIT_MS = 10_000;

const stateDir = process.argv[2];
if (stateDir === undefined) {
  console.error("usage: node daemon.ts <stateDir>");
  process.exit(2);
}
const paths = storePaths(stateDir);
const idleMs = parseIdleMs(process.env.TEAMSTACK_STORE_IDLE_MS);

function log(message: string): void {
  console.log(`${new Date().toISOString()} store daemon ${process.pid}: ${message}`);
}

function parseIdleMs(text: string | undefined): number {
  if (text === undefined || text === "") return DEFAULT_IDLE_MS;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`TEAMSTACK_STORE_IDLE_MS is \`${text}\`, expected a positive number of milliseconds`);
    process.exit(2);
  }
  return n;
}

/** Removes daemon.json (and the short link to a deep store folder), but only if they are still this process's. */
async function unpublish(): Promise<void> {
  const info = await readDaemonInfo(paths.info).catch(() => undefined);
  if (info?.pid !== process.pid) return;
  await rm(paths.info, { force: true });
  if (info.socket !== paths.socket) await rm(dirname(info.socket), { force: true });
}

// dynalite crashes with an uncaught error when LevelDB is locked by another process: end cleanly.
process.on("uncaughtException", (err) => {
  log(`fatal: ${err.stack ?? err.message}`);
  // The last line is what callers quote: the reason, with LevelDB's own (e.g. a lock held elsewhere).
  log(
    `cannot serve ${paths.db}: ${err.message}${err.cause instanceof Error ? ` (${err.cause.message})` : ""}` +
      " (is another process holding its LevelDB, or is it not a LevelDB folder?)",
  );
  void unpublish().finally(() => process.exit(1));
});

const server = dynalite({ path: paths.db, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
// Clients close an idle connection after 15 s; closing it here first would race their next request.
server.keepAliveTimeout = 60_000;
let lastRequest = Date.now();
server.on("request", () => {
  lastRequest = Date.now();
});

let stopping = false;
function shutdown(reason: string): void {
  if (stopping) return;
  stopping = true;
  log(`stopping (${reason})`);
  setTimeout(() => {
    log("LevelDB did not close in time; exiting anyway");
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS).unref();
  void unpublish().finally(() => {
    server.close((err) => {
      if (err) log(`close: ${err.message}`);
      log("stopped");
      process.exit(err ? 1 : 0);
    });
    // Clients keep connections alive; without this, close waits for them.
    server.closeAllConnections();
  });
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

/**
 * Connections the socket queues before the daemon accepts them. A 1,000-server run opens a
 * connection per concurrent task in a burst; past the queue (Node's default is 511) a client's
 * connect fails with EAGAIN. The kernel caps it at net.core.somaxconn (4096 by default).
 */
const LISTEN_BACKLOG = 4096;

/** Listens on `socket`, first removing a socket file a killed daemon left (nothing answers on it). */
async function listenOn(server: Server, socket: string): Promise<void> {
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path: socket, backlog: LISTEN_BACKLOG }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (err) {
    if (!isErrno(err, "EADDRINUSE") || (await ping(socket, 2_000)) !== "refused") throw err;
    await rm(socket, { force: true });
    await listen();
  }
  await chmod(socket, 0o600);
}

const socket = await socketAddress(paths);
await listenOn(server, socket);

// LevelDB opens lazily: make it open now, so a locked folder fails here, before we publish.
const check = await ping(socket, 5_000);
if (check !== "ok") {
  log(`dynalite on ${socket} does not answer ListTables (${check}); exiting`);
  process.exit(1);
}

const info: DaemonInfo = { pid: process.pid, socket, startedAt: new Date().toISOString(), idleMs };
await writeFileAtomic(paths.info, `${JSON.stringify(info)}\n`);
log(`listening on ${socket}, db ${paths.db}, idle limit ${idleMs} ms`);

setInterval(
  () => {
    if (Date.now() - lastRequest >= idleMs) shutdown(`no request for ${idleMs} ms`);
  },
  Math.min(1_000, Math.max(50, idleMs / 10)),
).unref();
// The server keeps the process alive; the interval must not (it ends with the server).
