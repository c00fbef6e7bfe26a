import { readFileSync } from "node:fs";

let script: string | undefined;

/**
 * The text of the sandbox holder (`holder.sh`, next to this file), PID 1 of every sandbox.
 * Each sandbox runs its own copy from its directory, so that editing or moving teamstack never
 * changes a script that bash is still reading.
 */
export function holderScript(): string {
  script ??= readFileSync(new URL("./holder.sh", import.meta.url), "utf8");
  return script;
}
