import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import type { ConsoleBuild } from "../../web/build.ts";

/**
 * The web console as `teamstack serve` serves it: built once per process (web/build.ts, in
 * memory), `index.html` at `/` never cached, the content-hashed `/assets/*` cached for ever, each
 * gzip-compressed once for clients that take it, behind a strict Content-Security-Policy.
 */

/** Scripts, styles and API calls from this origin only; no inline code, no frames, no plugins. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Served {
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

let built: Promise<ReadonlyMap<string, Served> | Error> | undefined;

/** Starts building the console (once per process); the first request waits for it. */
export function prepareConsole(log: (line: string) => void): void {
  built ??= (async () => {
    try {
      const { buildConsole } = (await import("../../web/build.ts")) as {
        buildConsole: () => Promise<ConsoleBuild>;
      };
      const out = await buildConsole();
      const files = new Map<string, Served>();
      for (const [key, file] of out.files) {
        const body = Buffer.from(file.body);
        files.set(key, {
          body,
          gzip: gzipSync(body, { level: 9 }),
          headers: {
            "content-type": file.contentType,
            "cache-control": key === "index.html" ? "no-store" : "public, max-age=31536000, immutable",
            "content-security-policy": CONSOLE_CSP,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            vary: "accept-encoding",
          },
        });
      }
      return files;
    } catch (error) {
      log(`teamstack serve: the web console could not be built: ${(error as Error)?.stack ?? String(error)}`);
      return error as Error;
    }
  })();
}

/** The console file a GET or HEAD asks for (`/`, `/index.html`, `/assets/NAME`), if any. */
export function consolePath(method: string | undefined, url: string | undefined): string | undefined {
  if (method !== "GET" && method !== "HEAD") return undefined;
  const path = (url ?? "/").split("?", 1)[0] as string;
  if (path === "/" || path === "/index.html") return "index.html";
  if (/^\/assets\/[A-Za-z0-9_.-]+$/.test(path)) return path.slice(1);
  return undefined;
}

/**
 * Answers a console request; false when there is no such file (an unknown asset), for the API's
 * 404 to answer.
 */
export async function serveConsole(
  key: string,
  req: IncomingMessage,
  res: ServerResponse,
  log: (line: string) => void,
): Promise<boolean> {
  prepareConsole(log);
  const files = await (built as Promise<ReadonlyMap<string, Served> | Error>);
  if (files instanceof Error) {
    const body = JSON.stringify({
      error: "ServiceUnavailable",
      message:
        "the web console could not be built on this machine (the server's log says why); the API works",
    });
    res.writeHead(503, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  }
  const file = files.get(key);
  if (!file) return false;
  const gzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  const body = gzip ? file.gzip : file.body;
  res.writeHead(200, {
    ...file.headers,
    ...(gzip ? { "content-encoding": "gzip" } : {}),
    "content-length": body.length,
  });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}
