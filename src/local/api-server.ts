import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { recordedPublisher } from "../adapters/recorded-publisher.ts";
import type { ConsoleConfig, OneTimeRedeemer } from "../api/console.ts";
import { signingKey, verifyJwt } from "../api/jwt.ts";
import { openApiDocument } from "../api/openapi.ts";
import { type ApiRequest, type ApiResponse, handleRequest, MAX_BODY_BYTES } from "../api/router.ts";
import { type Orchestrator, StackService } from "../api/service.ts";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import { purgeExpired } from "../pipeline/purge.ts";
import type { Rollouts } from "../ports/rollouts.ts";
import type { StackKey } from "../ports/store.ts";
import { writeFileAtomic } from "../shared/state-files.ts";
import { consolePath, prepareConsole, serveConsole } from "./console-assets.ts";
import type { EngineOutcome, LocalEngine } from "./engine.ts";
import { oneTimeRedeemer } from "./one-time.ts";
import { localRunOutcome } from "./rollouts.ts";
import { startExpiryScheduler } from "./scheduler.ts";
import { removeStackLogs } from "./server-logs.ts";
import { createStreamHub, notifyingRollouts, type StreamHub } from "./stream.ts";

/**
 * `teamstack serve`: the HTTP API on this machine, the same handler as in AWS. It verifies bearer
 * tokens with the state directory's signing key (as API Gateway's JWT authorizer does in AWS) and
 * runs executions in this process on the local engine.
 */

export interface LocalApiServer {
  readonly url: string;
  /** Executions started by requests and not finished yet. */
  idle(): Promise<void>;
  /** The live streams (`GET /teams/{team}/stream`). */
  readonly streams: StreamHub;
  close(): Promise<void>;
}

/** How often `serve` deletes destroyed stacks whose records have expired (engine open does it too). */
const PURGE_INTERVAL_MS = 3_600_000;

/** Where a running server announces itself, so CLI commands can go through it. */
export function serverInfoFile(stateDir: string): string {
  return join(stateDir, "api", "server.json");
}

export function signingKeyFile(stateDir: string): string {
  return join(stateDir, "api", "signing.key");
}

/** The API cannot listen where it was asked to: the port is taken, or not this user's to take. */
export class ListenError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ListenError;
  }
}

/**
 * The StackService on this machine: the engine's store, executions, secrets and providers (those
 * of the registry that run on the local runtime, their preflights checked before a stack starts).
 * `localForMembers`: members, not only admins, may use `local` (whose servers run here).
 */
export function localStackService(
  engine: LocalEngine,
  orchestrator: Orchestrator,
  options: {
    readonly localForMembers?: boolean;
    /** The rollouts' records (default the engine's; serve's report their changes to the streams). */
    readonly rollouts?: Rollouts;
    readonly consoleConfig?: () => ConsoleConfig;
    readonly oneTime?: OneTimeRedeemer;
  } = {},
): StackService {
  return new StackService({
    store: engine.store,
    orchestrator,
    executions: engine.executions,
    providers: engine.providers.available,
    preflight: (team, servers, simulate) => engine.providers.preflight(team, servers, simulate),
    localForMembers: options.localForMembers === true,
    secrets: engine.secrets,
    rollouts: options.rollouts ?? engine.rollouts,
    logs: engine.logs,
    provider: (name) => engine.providers.provider(name),
    events: recordedPublisher(engine.store),
    directory: engine.store,
    ...(options.consoleConfig ? { consoleConfig: options.consoleConfig } : {}),
    ...(options.oneTime ? { oneTime: options.oneTime } : {}),
    now: () => new Date(),
  });
}

/**
 * Runs executions in this process; a name started once is not started again. `onProvisioned` sees
 * each provision run's end before the run counts as over (so `idle` waits for what it starts).
 */
function localOrchestrator(
  engine: LocalEngine,
  onError: (e: unknown) => void,
  onProvisioned: (key: StackKey, outcome: EngineOutcome) => Promise<void> = async () => undefined,
) {
  const started = new Map<string, Promise<unknown>>();
  const running = new Set<Promise<unknown>>();
  const orchestrator: Orchestrator = {
    async start(machine, key: StackKey, name: string, input) {
      if (started.has(name)) return;
      const run = (
        machine === "provision"
          ? engine.provision(key).then((outcome) => onProvisioned(key, outcome))
          : machine === "destroy"
            ? engine.destroy(key)
            : input?.action === "start"
              ? engine.start(key)
              : engine.stop(key)
      ).catch(onError);
      started.set(name, run);
      running.add(run);
      void run.finally(() => running.delete(run));
    },
  };
  return {
    orchestrator,
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string | "too-large"> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return "too-large";
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, out: ApiResponse, head = false): void {
  // A HEAD answer, a 204 and a 304 have no body; their length is left out rather than given as 0.
  res.writeHead(
    out.status,
    head || out.status === 304
      ? out.headers
      : { ...out.headers, "content-length": Buffer.byteLength(out.body) },
  );
  res.end(head ? undefined : out.body);
}

const errorBody = (
  status: number,
  error: string,
  message: string,
  extra: Record<string, string> = {},
): ApiResponse => ({
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store" },
  body: JSON.stringify({ error, message, ...extra }),
});

export async function startLocalApiServer(options: {
  readonly engine: LocalEngine;
  readonly host?: string;
  readonly port?: number;
  /** Where unexpected errors go (the server's log). */
  readonly log?: (line: string) => void;
  /** Offer `local` to members too, not only to admins (`teamstack serve --allow-local`). */
  readonly allowLocal?: boolean;
  /** How often the expiry scheduler reads the stacks (default 5 s). */
  readonly expiryPollMs?: number;
  /** How often a quiet live stream gets a keepalive comment (default 15 s). */
  readonly keepaliveMs?: number;
  /** Sees every answer of the router and its request (the tests check them against /openapi.json). */
  readonly onAnswer?: (request: ApiRequest, answer: ApiResponse) => void;
}): Promise<LocalApiServer> {
  const { engine } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const onError = (e: unknown, requestId?: string) =>
    log(`teamstack serve:${requestId ? ` request ${requestId}:` : ""} ${(e as Error)?.stack ?? String(e)}`);
  const key = await signingKey(signingKeyFile(engine.stateDir));
  // A run's end advances the rollout updating its stack, if any (in AWS: lambdas/rollout).
  const { orchestrator, idle } = localOrchestrator(engine, onError, async (key, outcome) => {
    const ended = await localRunOutcome(engine.store, key, outcome);
    if (ended) await service.rollouts.onStackRunEnded(ended);
  });
  // Live updates: the engine's stack events and the rollouts' changes, to the streams that may see them.
  const streams = createStreamHub({
    store: engine.store,
    ...(options.keepaliveMs !== undefined ? { keepaliveMs: options.keepaliveMs } : {}),
    onError,
  });
  const unsubscribe = engine.subscribe((key, event) => {
    // A stream's trouble must never fail the run that recorded the event.
    try {
      streams.publishStack(key, event);
    } catch (error) {
      onError(error);
    }
  });
  const service = localStackService(engine, orchestrator, {
    localForMembers: options.allowLocal === true,
    rollouts: notifyingRollouts(engine.rollouts, (key) => streams.publishRollout(key)),
    // The console is served from this origin: it calls the API there.
    consoleConfig: () => ({ apiBase: "", stream: true, signIn: { token: true, oneTime: true, oidc: null } }),
    oneTime: oneTimeRedeemer(engine.stateDir, key),
  });
  const hostPaths = [{ path: engine.stateDir, name: "$STATE_DIR" }];
  let url = "";
  const openapi = openApiDocument();
  // The web console at / and /assets/* (src/local/console-assets.ts), built once.
  prepareConsole(log);
  const server: Server = createServer(async (req, res) => {
    const head = req.method === "HEAD";
    try {
      const asset = consolePath(req.method, req.url);
      if (asset !== undefined && (await serveConsole(asset, req, res, log))) return;
      const body = await readBody(req);
      if (body === "too-large") {
        send(res, errorBody(413, "PayloadTooLarge", `the body is larger than ${MAX_BODY_BYTES} bytes`), head);
        req.resume();
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === "string") headers[k.toLowerCase()] = v;
      let claims: Record<string, unknown> | undefined;
      const auth = headers.authorization;
      if (auth !== undefined) {
        const m = /^Bearer\s+(\S+)$/i.exec(auth);
        const verified = m
          ? verifyJwt(m[1] as string, key)
          : { ok: false as const, reason: "expected `Bearer TOKEN`" };
        if (!verified.ok) {
          send(res, errorBody(401, "Unauthorized", `invalid Authorization header: ${verified.reason}`), head);
          return;
        }
        claims = verified.claims;
      }
      if (streams.handle(req, res, claims)) return;
      // The path with its query string (a signed callback's `?sig=`), which handleRequest splits
      // off. Not `new URL`: a request path such as `//x` would be read as a host.
      const path = req.url || "/";
      const request: ApiRequest = { method: req.method ?? "GET", path, headers, body, claims };
      const answer = await handleRequest(request, {
        service,
        openapi: () => ({ ...openapi, servers: [{ url }] }),
        onError,
        hostPaths,
      });
      options.onAnswer?.(request, answer);
      send(res, answer, head);
    } catch (error) {
      const requestId = randomUUID();
      onError(error, requestId);
      if (!res.headersSent) {
        send(
          res,
          errorBody(
            500,
            "InternalError",
            `internal error: a bug in teamstack; please report it with request id ${requestId} (the server's log has the details)`,
            { requestId },
          ),
          head,
        );
      } else res.destroy();
    }
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const port = options.port ?? 0;
  const listenHost = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, listenHost, port)));
    server.listen(port, listenHost, () => resolve());
  });
  // The store has no TTL: destroyed stacks whose 30 days are over are purged hourly while serving.
  const purge = setInterval(() => {
    purgeExpired(engine.store, new Date())
      .then((keys) => Promise.all(keys.map((key) => removeStackLogs(engine.stateDir, key))))
      .catch((error: unknown) => onError(error));
  }, PURGE_INTERVAL_MS);
  purge.unref();
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  await writeFileAtomic(serverInfoFile(engine.stateDir), `${JSON.stringify({ url, pid: process.pid })}\n`);
  // ttl and auto_stop: serve is what enforces them on this machine (src/local/scheduler.ts).
  const expiry = startExpiryScheduler({
    engine,
    ...(options.expiryPollMs !== undefined ? { intervalMs: options.expiryPollMs } : {}),
    log: (line) => log(`teamstack serve: ${line}`),
  });
  return {
    url,
    idle,
    streams,
    async close() {
      clearInterval(purge);
      unsubscribe();
      streams.closeAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await expiry.stop();
      await idle();
    },
  };
}

/** What a failed listen means for the one who ran `serve`, and what to do. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `port ${port} on ${host}`;
  const pick = "pick another with --port N (--port 0 picks a free one)";
  switch (error.code) {
    case "EADDRINUSE":
      return new ListenError(`${where} is taken by another process: stop it, or ${pick}`, { cause: error });
    case "EACCES":
      return new ListenError(`${where} needs privileges this user does not have: ${pick} (1024 or above)`, {
        cause: error,
      });
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return new ListenError(
        `cannot listen on ${host}: no interface of this machine has that address; give --host 127.0.0.1 or another of its addresses`,
        { cause: error },
      );
    default:
      return error;
  }
}
