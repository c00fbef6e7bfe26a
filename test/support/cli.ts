import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project's root and its command, as tests run them. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = join(ROOT, "bin/teamstack.js");

export interface CliResult {
  /** Exit code; null when the process was killed (a timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment the suite runs teamstack in: state-directory discovery stops below the
 * project's root (src/cli/state-dir.ts), so a developer's own `.teamstack` there is never used.
 */
export function cliEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, TEAMSTACK_CEILING_DIRECTORIES: ROOT };
}

/**
 * The result of a command's JSON output: the whole output when it is one JSON document, else its
 * last line (the commands that run a stack print NDJSON: events, then the final status).
 */
export function finalJson<T = unknown>(stdout: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    const lines = stdout.split("\n").filter((l) => l.trim() !== "");
    return JSON.parse(lines[lines.length - 1] ?? "") as T;
  }
}

/** Runs `teamstack ARGS` to its end, in the project's root; killed after `timeoutMs` (a hang). */
export function runCli(
  args: readonly string[],
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: ROOT,
        env: cliEnv(env),
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        encoding: "utf8",
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, signal: error?.signal ?? null, stdout, stderr });
      },
    );
  });
}
