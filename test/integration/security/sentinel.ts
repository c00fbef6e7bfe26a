import { createServer, type Server } from "node:net";
import { type RecordingServer, startRecordingServer } from "../hooks/recording-server.ts";

/** The address the operator allows in the SSRF tests, where the allowed server listens. */
export const ALLOWED_HOST = "127.0.0.3";

export interface SsrfTargets {
  /** A recording HTTP server on 127.0.0.3:PORT, the one address the tests allow. */
  readonly allowed: RecordingServer;
  readonly port: number;
  /** Connections that reached the sentinel on 127.0.0.1:PORT (and ::1:PORT, where there is one). */
  connections(): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * The allowed server, and a sentinel listening on loopback at the same port that counts every
 * connection: a refused target that leads to loopback must leave its count at zero.
 */
export async function startSsrfTargets(): Promise<SsrfTargets> {
  let count = 0;
  const sentinels: Server[] = [];
  const listen = (port: number, host: string): Promise<Server | undefined> =>
    new Promise((resolve) => {
      const server = createServer((socket) => {
        count++;
        socket.destroy();
      });
      server.once("error", () => resolve(undefined));
      server.listen(port, host, () => resolve(server));
    });
  for (let tries = 0; ; tries++) {
    const allowed = await startRecordingServer(ALLOWED_HOST);
    const port = Number(new URL(allowed.url).port);
    const sentinel = await listen(port, "127.0.0.1");
    if (!sentinel) {
      await allowed.close();
      if (tries >= 20) throw new Error("no port free on both 127.0.0.3 and 127.0.0.1");
      continue;
    }
    sentinels.push(sentinel);
    // Where the machine has IPv6 loopback, the ::1 targets are shown to reach nothing as well.
    const v6 = await listen(port, "::1");
    if (v6) sentinels.push(v6);
    return {
      allowed,
      port,
      connections: () => count,
      reset: () => {
        count = 0;
        allowed.requests.length = 0;
      },
      close: async () => {
        await allowed.close();
        await Promise.all(sentinels.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      },
    };
  }
}
