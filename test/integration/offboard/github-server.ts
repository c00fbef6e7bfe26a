import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request GitHub was sent. */
export interface GithubRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface FakeGithub {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly requests: GithubRequest[];
  /** The next `times` requests whose path ends with `suffix` and use `method` get `status`. */
  refuse(method: string, suffix: string, status: number, times?: number): void;
  close(): Promise<void>;
}

/**
 * A recording stand-in for GitHub's team membership API on 127.0.0.1: PUT answers 200 with an
 * active membership, DELETE answers 204 (GitHub's answers), unless a refusal is queued.
 */
export async function startFakeGithub(): Promise<FakeGithub> {
  const requests: GithubRequest[] = [];
  const refusals: { method: string; suffix: string; status: number; left: number }[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const method = req.method ?? "";
      const path = req.url ?? "";
      requests.push({ method, path, authorization: req.headers.authorization });
      const refusal = refusals.find((r) => r.left > 0 && r.method === method && path.endsWith(r.suffix));
      if (refusal) {
        refusal.left--;
        res.writeHead(refusal.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "Must have admin rights to Repository." }));
      } else if (method === "PUT") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ state: "active", role: "member" }));
      } else if (method === "DELETE") {
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "Not Found" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    refuse: (method, suffix, status, times = 1) => refusals.push({ method, suffix, status, left: times }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
