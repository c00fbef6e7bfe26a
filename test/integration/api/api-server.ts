import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { type LocalApiServer, signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { checkedFetch, checkRouterAnswer } from "../../support/openapi-check.ts";

/** A real `teamstack serve` in this process on 127.0.0.1, with its own state directory. */
export interface TestApi {
  readonly url: string;
  readonly engine: LocalEngine;
  readonly server: LocalApiServer;
  token(team: string, member: string, admin?: boolean, extra?: Record<string, unknown>): Promise<string>;
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: string | object; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; headers: Headers; text: string }>;
  close(): Promise<void>;
}

export async function startTestApi(
  options: { readonly allowLocal?: boolean; readonly log?: (line: string) => void } = {},
): Promise<TestApi> {
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-api-"));
  const engine = await openLocalEngine({ stateDir });
  // Every answer the server gives, to this process or to a CLI it runs, is checked against the
  // OpenAPI document; a mismatch fails the request's test (through `call`) or `close`.
  const mismatches: string[] = [];
  const server = await startLocalApiServer({
    engine,
    port: 0,
    log: options.log ?? (() => undefined),
    allowLocal: options.allowLocal === true,
    onAnswer: (request, answer) => {
      try {
        checkRouterAnswer(request, answer);
      } catch (error) {
        mismatches.push((error as Error).message);
      }
    },
  });
  const key = await signingKey(signingKeyFile(stateDir));
  return {
    url: server.url,
    engine,
    server,
    async token(team, member, admin = false, extra = {}) {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(
        { sub: member, "teamstack:team": team, "teamstack:admin": admin, iat: now, exp: now + 600, ...extra },
        key,
      );
    },
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const body =
        options.body === undefined
          ? undefined
          : typeof options.body === "string"
            ? options.body
            : JSON.stringify(options.body);
      // Every answer is checked against the /openapi.json the server serves (throws if it does not fit).
      const res = await checkedFetch(`${server.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed, headers: res.headers, text };
    },
    async close() {
      await server.close();
      for (const s of await engine.store.listStacks()) {
        if (s.status !== "DESTROYED") await engine.destroy(s);
      }
      await engine.close();
      await stopLocalStore(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
      if (mismatches.length > 0) {
        throw new Error(`answers that /openapi.json does not describe:\n${mismatches.join("\n")}`);
      }
    },
  };
}

/** Waits until a stack is no longer RUNNING, by its events, bounded. */
export async function settled(
  api: TestApi,
  team: string,
  stackId: string,
  token: string,
  timeoutMs = 20_000,
) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    await api.server.idle();
    const res = await api.call("GET", `/teams/${team}/stacks/${stackId}`, { token });
    const status = (res.body as { status?: string }).status;
    if (status !== "RUNNING" && status !== "DESTROYING") return res;
    if (Date.now() > until) throw new Error(`stack ${stackId} still ${status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
