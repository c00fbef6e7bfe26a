import { get } from "node:http";

/**
 * GETs a URL: the body, or the error's code (ECONNREFUSED, ETIMEDOUT after `timeoutMs`, ...), so a
 * test can expect either as a value.
 */
export function fetchText(url: string, timeoutMs = 3_000): Promise<{ body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ body }));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}
