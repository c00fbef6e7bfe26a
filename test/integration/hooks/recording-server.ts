import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHookRunner, type HookRunnerDeps } from "../../../src/hooks/runner.ts";
import type { HookRequest } from "../../../src/ports/hook.ts";
import type { Provider } from "../../../src/ports/provider.ts";
import type { Store } from "../../../src/ports/store.ts";

/** One request as the server saw it. */
export interface Recorded {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  /** Lower-case names. */
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One scripted answer; `hang` never answers (the client's timeout must end the request). */
export interface Scripted {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | object;
  readonly hang?: boolean;
}

export interface RecordingServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly requests: Recorded[];
  /** Queues answers, used in order; once they run out the server answers 599 `unscripted`. */
  answer(...answers: Scripted[]): void;
  close(): Promise<void>;
}

/**
 * A real HTTP server on `host` (127.0.0.1 unless given) and a random port that records every
 * request and answers a script.
 */
export async function startRecordingServer(host = "127.0.0.1"): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  const queue: Scripted[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const next = queue.shift() ?? { status: 599, body: "unscripted" };
      if (next.hang) return;
      const json = typeof next.body === "object";
      const body = json ? JSON.stringify(next.body) : (next.body ?? "");
      res.writeHead(next.status ?? 200, {
        ...(json ? { "content-type": "application/json; charset=utf-8" } : {}),
        ...next.headers,
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    requests,
    answer: (...answers) => queue.push(...answers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Only run_script uses the store and providers; these fail loudly if a service hook touches them. */
const unusedStore = new Proxy({} as Store, {
  get: (_, name) => () => {
    throw new Error(`a service hook called store.${String(name)}`);
  },
});
const unusedProvider = (): Provider => {
  throw new Error("a service hook asked for a provider");
};

/**
 * A hook runner whose services all live on `server`, that records its waits instead of sleeping.
 * The egress policy refuses loopback by default: the server's address is allowed explicitly, as an
 * operator would with TEAMSTACK_EGRESS_ALLOW.
 */
export function runnerFor(server: RecordingServer, overrides: Partial<HookRunnerDeps> = {}) {
  const waits: number[] = [];
  const runner = createHookRunner({
    store: unusedStore,
    provider: unusedProvider,
    endpoints: { github: server.url, slack: `${server.url}/api`, x: server.url },
    egressAllow: `${new URL(server.url).hostname}/32`,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  return { runner, waits };
}

/** A hook request for team `acme`, with the given team secrets; `asked` lists the names read. */
export function hookRequest(
  type: HookRequest["type"],
  params: Record<string, unknown>,
  secrets: Record<string, string> = {},
): HookRequest & { readonly asked: string[] } {
  const asked: string[] = [];
  return {
    team: "acme",
    stackId: "stack-7",
    member: "ada",
    type,
    phase: "post",
    index: 2,
    params,
    asked,
    teamSecret: async (name) => {
      asked.push(name);
      return secrets[name];
    },
  };
}
