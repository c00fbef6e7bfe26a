import type { IncomingMessage, ServerResponse } from "node:http";
import { type ClaimNames, DEFAULT_CLAIMS } from "../api/router.ts";
import { NAME_PATTERN } from "../api/routes.ts";
import type { StreamRolloutData, StreamStackData } from "../api/schemas.ts";
import type { Caller } from "../api/service.ts";
import type { RolloutKey, Rollouts } from "../ports/rollouts.ts";
import type { StackEvent, StackKey, StackRuns } from "../ports/store.ts";

/**
 * Live updates of `teamstack serve`: `GET /teams/{team}/stream`, server-sent events. Each stack
 * event of a stack the caller may see (a member's own; every stack of the team for an admin) goes
 * out as `event: stack`, each change of a rollout of the team as `event: rollout` (admins only), and
 * `: keepalive` comments keep proxies from closing a quiet stream. The console reads it with fetch
 * and the usual bearer token. The deployed API Gateway cannot stream: there the console polls.
 */

/** How often a quiet stream gets a `: keepalive` comment. */
export const KEEPALIVE_MS = 15_000;
/** The most streams one caller (team and member) may hold open at once. */
export const MAX_STREAMS_PER_CALLER = 4;

/** Stacks whose member is remembered at once (the oldest is forgotten past this). */
const MEMBER_CACHE = 10_000;
/** A stream whose client reads slower than events come is closed past this many unsent bytes (it reconnects). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const STREAM_PATH = /^\/teams\/([^/?#]+)\/stream\/?(?:\?.*)?$/;
const NAME = new RegExp(NAME_PATTERN);

export interface StreamHubOptions {
  /** Reads a stack's member, to tell whose events they are. */
  readonly store: Pick<StackRuns, "getStack">;
  readonly keepaliveMs?: number;
  readonly maxPerCaller?: number;
  readonly claims?: ClaimNames;
  /** Where a failed member lookup is reported. */
  readonly onError?: (error: unknown) => void;
}

interface Subscriber {
  readonly caller: Caller;
  send(event: string, data: unknown): void;
  close(): void;
}

export interface StreamHub {
  /** A stack event as the engine records it. Never throws. */
  publishStack(key: StackKey, event: StackEvent): void;
  /** A rollout of the team changed. */
  publishRollout(key: RolloutKey): void;
  /**
   * Serves `GET /teams/{team}/stream` when `req` is one: true when it took the request. `claims`
   * are the verified bearer token's (undefined without one).
   */
  handle(req: IncomingMessage, res: ServerResponse, claims: Record<string, unknown> | undefined): boolean;
  /** Streams open now. */
  size(): number;
  /** Resolves once `predicate(size())` holds (checked now and after every open and close). */
  until(predicate: (open: number) => boolean): Promise<void>;
  /** Ends every stream. */
  closeAll(): void;
}

export function createStreamHub(options: StreamHubOptions): StreamHub {
  const keepaliveMs = options.keepaliveMs ?? KEEPALIVE_MS;
  const maxPerCaller = options.maxPerCaller ?? MAX_STREAMS_PER_CALLER;
  const names = options.claims ?? DEFAULT_CLAIMS;
  const subscribers = new Set<Subscriber>();
  const waiters = new Set<() => void>();
  // One lookup per stack, its promise shared: events of a stack go out in the order recorded.
  const members = new Map<string, Promise<string | undefined>>();

  const changed = () => {
    for (const w of [...waiters]) w();
  };

  const memberOf = (key: StackKey): Promise<string | undefined> => {
    const id = `${key.team}/${key.stackId}`;
    let found = members.get(id);
    if (!found) {
      found = options.store.getStack(key).then(
        (stack) => {
          if (!stack) members.delete(id);
          return stack?.member;
        },
        (error: unknown) => {
          members.delete(id);
          options.onError?.(error);
          return undefined;
        },
      );
      members.set(id, found);
      if (members.size > MEMBER_CACHE) members.delete(members.keys().next().value as string);
    }
    return found;
  };

  const inTeam = (team: string) => [...subscribers].filter((s) => s.caller.team === team);

  return {
    publishStack(key, event) {
      if (inTeam(key.team).length === 0) return;
      void memberOf(key).then((member) => {
        const data: StreamStackData = {
          stackId: key.stackId,
          member: member ?? "",
          type: event.type,
          seq: event.seq,
          at: event.at,
        };
        for (const s of inTeam(key.team)) {
          // A stack whose member is unknown (gone) is shown to admins only.
          if (s.caller.admin || (member !== undefined && s.caller.member === member)) s.send("stack", data);
        }
      });
    },

    publishRollout(key) {
      for (const s of inTeam(key.team))
        if (s.caller.admin) s.send("rollout", { rolloutId: key.rolloutId } satisfies StreamRolloutData);
    },

    handle(req, res, claims) {
      const m = STREAM_PATH.exec(req.url ?? "");
      if (!m) return false;
      if (req.method !== "GET") {
        refuse(res, 405, "MethodNotAllowed", `${req.method} is not allowed here; use GET`, { allow: "GET" });
        return true;
      }
      let team: string;
      try {
        team = decodeURIComponent(m[1] as string);
      } catch {
        team = "";
      }
      if (!NAME.test(team)) {
        refuse(res, 400, "BadRequest", "team: expected letters, digits, _, . and - (at most 63)");
        return true;
      }
      const caller = callerOf(claims, names);
      if (!caller) {
        refuse(res, 401, "Unauthorized", "a bearer token is required (Authorization: Bearer TOKEN)");
        return true;
      }
      if (caller.team !== team) {
        refuse(res, 403, "Forbidden", `your token is for team \`${caller.team}\`, not \`${team}\``);
        return true;
      }
      const mine = [...subscribers].filter(
        (s) => s.caller.team === team && s.caller.member === caller.member,
      );
      if (mine.length >= maxPerCaller) {
        refuse(
          res,
          429,
          "TooManyStreams",
          `member \`${caller.member}\` has ${mine.length} streams open already (at most ${maxPerCaller}); close one`,
          { "retry-after": "5" },
        );
        return true;
      }
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      // A first comment, so that the client knows the stream is open before any event.
      res.write(": connected\n\n");
      const keepalive = setInterval(() => res.write(": keepalive\n\n"), keepaliveMs);
      keepalive.unref();
      let open = true;
      const sub: Subscriber = {
        caller,
        send(event, data) {
          if (!open) return;
          res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
          if (res.writableLength > MAX_BUFFERED_BYTES) sub.close();
        },
        close() {
          if (!open) return;
          open = false;
          clearInterval(keepalive);
          subscribers.delete(sub);
          res.end();
          changed();
        },
      };
      subscribers.add(sub);
      res.on("close", () => sub.close());
      req.socket.setTimeout(0);
      changed();
      return true;
    },

    size: () => subscribers.size,

    until(predicate) {
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate(subscribers.size)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },

    closeAll() {
      for (const s of [...subscribers]) s.close();
    },
  };
}

function callerOf(claims: Record<string, unknown> | undefined, names: ClaimNames): Caller | undefined {
  if (!claims) return undefined;
  const team = claims[names.team];
  const member = claims[names.member];
  const admin = claims[names.admin];
  if (typeof team !== "string" || typeof member !== "string") return undefined;
  return { team, member, admin: admin === true || admin === "true" };
}

function refuse(
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error, message });
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

/**
 * The Rollouts port with every write reported to `onChange` once it has succeeded: how `serve`
 * streams rollout changes.
 */
export function notifyingRollouts(rollouts: Rollouts, onChange: (key: RolloutKey) => void): Rollouts {
  const report = <T>(key: RolloutKey, result: Promise<T>): Promise<T> =>
    result.then((value) => {
      onChange(key);
      return value;
    });
  return {
    claimActiveRollout: (...a) => rollouts.claimActiveRollout(...a),
    getActiveRollout: (...a) => rollouts.getActiveRollout(...a),
    releaseActiveRollout: (...a) => rollouts.releaseActiveRollout(...a),
    getRollout: (...a) => rollouts.getRollout(...a),
    listRollouts: (...a) => rollouts.listRollouts(...a),
    listRolloutStacks: (...a) => rollouts.listRolloutStacks(...a),
    getRolloutStack: (...a) => rollouts.getRolloutStack(...a),
    putRollout: (rollout, stacks) => report(rollout, rollouts.putRollout(rollout, stacks)),
    moveRolloutStack: (key, ...a) => report(key, rollouts.moveRolloutStack(key, ...a)),
    setRolloutStack: (key, ...a) => report(key, rollouts.setRolloutStack(key, ...a)),
    finishRollout: (key, ...a) => report(key, rollouts.finishRollout(key, ...a)),
  };
}
