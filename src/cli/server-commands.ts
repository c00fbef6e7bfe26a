import { spawn } from "node:child_process";
import { ApiError } from "../api/errors.ts";
import {
  EXEC_DEFAULT_TIMEOUT_SECONDS,
  EXEC_MAX_TIMEOUT_SECONDS,
  type ExecResult,
  execOnServer,
  hookLogs,
  type LogQuery,
  serverLogs,
} from "../api/server-access.ts";
import type { LocalEngine } from "../local/engine.ts";
import { refOf } from "../pipeline/servers.ts";
import type { ShellCommand } from "../ports/provider.ts";
import type { LogPage } from "../ports/server-logs.ts";
import type { StackRecord } from "../ports/store.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { findRunningServer, type RunningServer } from "./server-client.ts";
import { ENDPOINT_HELP, findStack, STATE_DIR_HELP, withEngine } from "./stack-commands.ts";

/**
 * `teamstack logs`, `exec` and `shell`: a server's kept output, a command run on it, and an
 * interactive shell in it. `logs` and `exec` go through a running `teamstack serve` (or the API at
 * `--endpoint`) when there is one, as other commands do; otherwise they read the state directory
 * and run through its providers here. `shell` enters a local server's sandbox from this process.
 */

const common = { "state-dir": { type: "string" }, endpoint: { type: "string" } } as const;

/** How often `--follow` asks for more: a line written shows within this (well under 1 s). */
const FOLLOW_POLL_MS = 200;

type LogPageOut = LogPage & { server?: string; hook?: string };

/** Reads pages of a log: through the API, or from the state directory. */
type PageReader = (query: LogQuery) => Promise<LogPageOut>;

function apiMessage(body: unknown, status: number): string {
  return (body as { message?: string } | undefined)?.message ?? `the server answered ${status}`;
}

function apiReader(server: RunningServer, stack: StackRecord, path: string): PageReader {
  return async (query) => {
    const params = new URLSearchParams();
    if (query.after !== undefined) params.set("after", String(query.after));
    if (query.attempt !== undefined) params.set("attempt", String(query.attempt));
    const res = await server.call(stack.team, "GET", `${path}?${params.toString()}`);
    if (res.status !== 200) throw new ApiError(res.status, "Api", apiMessage(res.body, res.status));
    return res.body as LogPageOut;
  };
}

function positiveInt(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw new UsageError(`--${name} \`${text}\`: expected a whole number from 1 to ${max}`);
  return Number(text);
}

/** Runs `fn` with the stack found in the state directory and the running server, if any. */
async function withStack<T>(
  values: Values,
  io: Io,
  id: string,
  fn: (engine: LocalEngine, stack: StackRecord, server: RunningServer | undefined) => Promise<T>,
): Promise<T> {
  return withEngine({ ...values, json: true }, io, async (engine) => {
    const stack = await findStack(engine, id);
    const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
    return fn(engine, stack, server);
  });
}

/** Prints an ApiError's message the way the commands print failures; rethrows anything else. */
function failed(command: string, io: Io, err: unknown): number {
  if (err instanceof ApiError) {
    io.err(`teamstack ${command}: ${err.message}\n`);
    return 1;
  }
  throw err;
}

export const logsCommand: Command = {
  name: "logs",
  summary: "Print a server's kept output (user_data, on_start) or a hook's (--hook post:1).",
  usage:
    "teamstack logs ID SERVER [--follow] [--attempt N] [--state-dir DIR] [--endpoint URL]\n       teamstack logs ID --hook PHASE:INDEX [--follow] [--attempt N]",
  options: {
    ...common,
    follow: { type: "boolean", short: "f" },
    attempt: { type: "string" },
    hook: { type: "string" },
  },
  help: [
    ["-f, --follow", "Keep printing as the attempt writes more; end when it ends."],
    ["--attempt N", "Which attempt (1 is the first; default: the newest)."],
    ["--hook PHASE:INDEX", "A hook's log instead of a server's: pre:0, post:1, destroy:0."],
    STATE_DIR_HELP,
    ENDPOINT_HELP,
  ],
  async run(values, args, io) {
    const hook = values.hook as string | undefined;
    if (hook === undefined ? args.length !== 2 : args.length !== 1)
      throw new UsageError(
        hook === undefined ? "give a stack ID and a SERVER" : "give a stack ID (and --hook)",
      );
    const [id, serverName] = args as [string, string | undefined];
    const attempt = positiveInt("attempt", values.attempt, 2 ** 31);
    return withStack(values, io, id, async (engine, stack, server) => {
      const hookPath = hook?.replace(":", ".");
      const path =
        hook !== undefined
          ? `/teams/${stack.team}/stacks/${stack.stackId}/hooks/${encodeURIComponent(hookPath as string)}/logs`
          : `/teams/${stack.team}/stacks/${stack.stackId}/servers/${encodeURIComponent(serverName as string)}/logs`;
      const deps = { store: engine.store, logs: engine.logs };
      const read: PageReader = server
        ? apiReader(server, stack, path)
        : (query) =>
            hook !== undefined
              ? hookLogs(deps, stack, hook, query)
              : serverLogs(deps, stack, serverName as string, query);
      try {
        return await printLog(read, attempt, values.follow === true, io);
      } catch (err) {
        return failed("logs", io, err);
      }
    });
  },
};

/**
 * Prints an attempt's text from the start; with `follow`, keeps asking from `next` until the
 * attempt is complete. A log with no attempt yet is waited for when following.
 */
async function printLog(
  read: PageReader,
  attempt: number | undefined,
  follow: boolean,
  io: Io,
): Promise<number> {
  let query: LogQuery = attempt !== undefined ? { attempt } : {};
  let announced = false;
  for (;;) {
    const page = await read(query);
    if (!announced && page.attempt > 0) {
      announced = true;
      const state = page.complete ? "ended" : "running";
      io.err(
        `${page.server ?? `hook ${page.hook}`}: attempt ${page.attempt} of ${page.attempts} (${page.kind ?? "user_data"}, ${state})\n`,
      );
    }
    if (page.text !== "") io.out(page.text);
    // The newest attempt once one exists: later pages stay on it even if another one starts.
    if (page.attempt > 0) query = { attempt: page.attempt, after: page.next };
    if (page.complete) {
      if (page.attempt === 0 && !follow) io.err("no output kept yet\n");
      return 0;
    }
    if (page.text !== "") continue;
    if (!follow) {
      if (page.attempt === 0) io.err("no output kept yet\n");
      return 0;
    }
    await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
  }
}

export const execCommand: Command = {
  name: "exec",
  summary: "Run a command on a server and exit with its exit code: teamstack exec ID SERVER -- CMD...",
  usage:
    "teamstack exec ID SERVER [--timeout SECONDS] [--state-dir DIR] [--endpoint URL] -- COMMAND [ARG...]",
  options: { ...common, timeout: { type: "string" } },
  help: [
    [
      "--timeout SECONDS",
      `Kill the command after this long (default ${EXEC_DEFAULT_TIMEOUT_SECONDS}); exit code 124.`,
    ],
    STATE_DIR_HELP,
    ENDPOINT_HELP,
  ],
  async run(values, args, io) {
    if (args.length < 3) throw new UsageError("give a stack ID, a SERVER and the command after --");
    const [id, serverName, ...command] = args as [string, string, ...string[]];
    const timeoutSeconds = positiveInt("timeout", values.timeout, EXEC_MAX_TIMEOUT_SECONDS);
    const request = { command, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) };
    return withStack(values, io, id, async (engine, stack, server) => {
      let result: ExecResult;
      try {
        if (server) {
          const path = `/teams/${stack.team}/stacks/${stack.stackId}/servers/${encodeURIComponent(serverName)}/exec`;
          const res = await server.call(stack.team, "POST", path, request);
          if (res.status !== 200) throw new ApiError(res.status, "Api", apiMessage(res.body, res.status));
          result = res.body as ExecResult;
        } else {
          result = await execOnServer(
            {
              store: engine.store,
              provider: (name) => engine.providers.provider(name),
              secrets: engine.secrets,
            },
            stack,
            serverName,
            request,
          );
        }
      } catch (err) {
        return failed("exec", io, err);
      }
      io.out(result.output);
      if (result.truncated) io.err("teamstack exec: output cut; only its first 256 KiB are shown\n");
      return result.exitCode;
    });
  },
};

export const shellCommand: Command = {
  name: "shell",
  summary: "Open an interactive shell on a server (local: inside its sandbox; aws: ssh with a one-time key).",
  usage: "teamstack shell ID SERVER [--state-dir DIR]",
  options: { "state-dir": { type: "string" } },
  help: [STATE_DIR_HELP],
  async run(values, args, io) {
    if (args.length !== 2) throw new UsageError("give a stack ID and a SERVER");
    const [id, serverName] = args as [string, string];
    const shell = await withEngine({ ...values, json: true }, io, async (engine) => {
      const stack = await findStack(engine, id);
      const rec = await engine.store.getServer(stack, serverName);
      if (!rec) throw new UsageError(`stack \`${stack.stackId}\` has no server \`${serverName}\``);
      const provider = engine.providers.provider(rec.provider);
      if (!provider.shell) {
        io.err(
          `teamstack shell: server \`${serverName}\` runs on ${rec.provider}, which opens no interactive shell here (\`teamstack providers\` lists what each supports; use \`teamstack exec\` for a command)\n`,
        );
        return undefined;
      }
      if (rec.status !== "SUCCEEDED" || !rec.artifacts?.Id) {
        io.err(`teamstack shell: server \`${serverName}\` is ${rec.status.toLowerCase()}, not running\n`);
        return undefined;
      }
      return provider.shell(refOf(rec), process.env.TERM);
    });
    if (!shell) return 1;
    return runShellCommand(shell);
  },
};

/**
 * Runs a shell command with this process's terminal and answers its exit code; Ctrl-C goes to the
 * shell, not to this process. Its cleanup (aws: the one-time key) runs once it has ended, or failed
 * to start.
 */
export async function runShellCommand(shell: ShellCommand): Promise<number> {
  const exited = new Promise<number>((resolve, reject) => {
    const child = spawn(shell.file, [...shell.args], shell.options);
    // The shell handles Ctrl-C itself; this process must not end on it.
    const ignore = (): void => undefined;
    process.on("SIGINT", ignore);
    process.on("SIGQUIT", ignore);
    const done = (): void => {
      process.off("SIGINT", ignore);
      process.off("SIGQUIT", ignore);
    };
    child.once("error", (err) => {
      done();
      reject(err);
    });
    child.once("exit", (code, signal) => {
      done();
      resolve(code ?? (signal ? 128 + 9 : 1));
    });
  });
  try {
    return await exited;
  } finally {
    await shell.cleanup?.();
  }
}
