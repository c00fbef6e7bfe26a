import { readFileSync } from "node:fs";

let script: string | undefined;

/**
 * The sandbox holder script (`holder.sh`, next to this file): PID 1 of every sandbox.
 * Read once, then handed to `bash -c`, so that the sandbox never depends on the file staying put.
 */
export function holderScript(): string {
  script ??= readFileSync(new URL("./holder.sh", import.meta.url), "utf8");
  return script;
}
