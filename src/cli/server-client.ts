import { readFile } from "node:fs/promises";
import { signingKey, signJwt } from "../api/jwt.ts";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import { serverInfoFile, signingKeyFile } from "../local/api-server.ts";

/** `--endpoint` names a server that does not answer. */
export class ServerUnreachableError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.ServerUnreachableError;
  }
}

/** A `teamstack serve` running on the state directory, and a way to call it as a team's admin. */
export interface RunningServer {
  readonly url: string;
  call(
    team: string,
    method: string,
    path: string,
    body?: unknown,
    /** Send `body` (a string) as it is, with this content type, instead of as JSON. */
    raw?: { readonly contentType: string },
  ): Promise<{ status: number; body: unknown }>;
}

/**
 * The server announced in the state directory, when its process is alive and it answers; CLI
 * commands then go through it, so executions run in one place.
 */
export async function findRunningServer(
  stateDir: string,
  endpoint?: string,
): Promise<RunningServer | undefined> {
  let url = endpoint;
  if (url === undefined) {
    try {
      const info = JSON.parse(await readFile(serverInfoFile(stateDir), "utf8")) as {
        url?: unknown;
        pid?: unknown;
      };
      if (typeof info.url !== "string" || typeof info.pid !== "number") return undefined;
      process.kill(info.pid, 0);
      url = info.url;
    } catch {
      return undefined;
    }
  }
  try {
    const res = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
  } catch {
    if (endpoint !== undefined) {
      throw new ServerUnreachableError(
        `no teamstack API answers at ${endpoint} (is \`teamstack serve\` running there?)`,
      );
    }
    return undefined;
  }
  const key = await signingKey(signingKeyFile(stateDir));
  const base = url;
  return {
    url: base,
    async call(team, method, path, body, raw) {
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(
        { sub: "teamstack-cli", "teamstack:team": team, "teamstack:admin": true, iat: now, exp: now + 300 },
        key,
      );
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": raw?.contentType ?? "application/json" },
        ...(body !== undefined ? { body: raw ? String(body) : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed };
    },
  };
}
