import { request } from "node:http";

/**
 * What a quick DynamoDB ListTables said: `ok` (a working dynalite with its LevelDB open),
 * `refused` (nothing listens: the daemon is gone), `timeout` (something listens but does not
 * answer in time), `error` (an answer that is not a working dynalite).
 */
export type PingResult = "ok" | "refused" | "timeout" | "error";

/**
 * Asks the daemon on unix socket `socket` for ListTables without the SDK (the daemon must stay light, and the
 * caller needs to tell "nobody there" from "slow"). dynalite checks that a signature is present,
 * not that it is valid.
 */
export function ping(socket: string, timeoutMs: number): Promise<PingResult> {
  return new Promise((resolve) => {
    const body = '{"Limit":1}';
    const req = request(
      {
        socketPath: socket,
        method: "POST",
        path: "/",
        agent: false,
        timeout: timeoutMs,
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "content-length": Buffer.byteLength(body),
          "x-amz-target": "DynamoDB_20120810.ListTables",
          "x-amz-date": "20200101T000000Z",
          authorization:
            "AWS4-HMAC-SHA256 Credential=teamstack/20200101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve(res.statusCode === 200 && text.includes("TableNames") ? "ok" : "error"));
        res.on("error", () => resolve("error"));
      },
    );
    req.on("timeout", () => {
      req.destroy();
      resolve("timeout");
    });
    req.on("error", (err: NodeJS.ErrnoException) =>
      // A socket file with no daemon behind it refuses; no file at all is just as empty. A full
      // queue of connections (EAGAIN) is a daemon there but too busy to take one more: slow.
      resolve(
        err.code === "ECONNREFUSED" || err.code === "ENOENT"
          ? "refused"
          : err.code === "EAGAIN"
            ? "timeout"
            : "error",
      ),
    );
    req.end(body);
  });
}
