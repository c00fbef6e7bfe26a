import { TeamstackError } from "../core/errors.ts";
import type { HookPhase } from "../core/template.ts";
import { runSecrets } from "../pipeline/secrets.ts";
import { refOf } from "../pipeline/servers.ts";
import type { Provider } from "../ports/provider.ts";
import type { Secrets } from "../ports/secrets.ts";
import {
  decodePage,
  keepOutput,
  LOG_LIMIT_BYTES,
  type LogKey,
  type LogPage,
  type ServerLogs,
} from "../ports/server-logs.ts";
import type { ServerRecord, StackRecord, StackRuns } from "../ports/store.ts";
import { ApiError, badRequest, conflict, notFound } from "./errors.ts";

/**
 * What the logs and exec routes do for StackService, once it has checked that the caller may
 * reach the stack (a member their own stacks, an admin the team's).
 */

/** What reading a log and running a command on a server need. */
export interface ServerAccessDeps {
  readonly store: Pick<StackRuns, "getServer" | "listHooks">;
  /** Absent: logs are not kept in this deployment (501). */
  readonly logs?: ServerLogs;
  /** The provider of a server's record (its `provider`: the simulator's for a simulated one). Absent: 501. */
  readonly provider?: (name: string) => Provider;
  readonly secrets?: Secrets;
}

/** What `GET .../logs` takes. */
export interface LogQuery {
  readonly attempt?: number;
  readonly after?: number;
}

/** What `POST .../exec` takes. */
export interface ExecRequest {
  readonly command: readonly string[];
  readonly timeoutSeconds?: number;
}

/** What `POST .../exec` answers. */
export interface ExecResult {
  readonly exitCode: number;
  readonly output: string;
  readonly truncated: boolean;
}

/** How long a command may run when the request does not say (seconds), and the most it may ask. */
export const EXEC_DEFAULT_TIMEOUT_SECONDS = 30;
export const EXEC_MAX_TIMEOUT_SECONDS = 3600;
/** The most output an exec answers: its first bytes. */
export const EXEC_MAX_OUTPUT_BYTES = 256 * 1024;

/** Server states whose log gets no new attempt until something runs again. */
const SETTLED = new Set(["SUCCEEDED", "FAILED", "SKIPPED", "DESTROYED", "STOPPED"]);

/** A log with no attempt yet, as a page: empty, complete once nothing will write one. */
function emptyPage(settled: boolean): LogPage {
  return {
    attempt: 0,
    attempts: 0,
    offset: 0,
    next: 0,
    text: "",
    complete: settled,
    truncated: false,
    limitBytes: LOG_LIMIT_BYTES,
    kind: "user_data",
  };
}

function logsOf(deps: ServerAccessDeps): ServerLogs {
  if (!deps.logs) throw new ApiError(501, "NotImplemented", "server logs are not kept in this deployment");
  return deps.logs;
}

async function page(
  deps: ServerAccessDeps,
  key: LogKey,
  query: LogQuery,
  settled: boolean,
  what: string,
): Promise<LogPage> {
  const found = await logsOf(deps).read(key, query);
  if (found) return found;
  if (query.attempt !== undefined) {
    const newest = await logsOf(deps).read(key, { after: 0 });
    throw notFound(
      `${what} has no attempt ${query.attempt} (${newest ? `attempts 1 to ${newest.attempts}` : "no attempt yet"})`,
    );
  }
  return emptyPage(settled);
}

/** A server's log: its user_data and on_start attempts. */
export async function serverLogs(
  deps: ServerAccessDeps,
  stack: StackRecord,
  server: string,
  query: LogQuery,
): Promise<LogPage & { server: string }> {
  const rec = await serverRecord(deps, stack, server);
  const key: LogKey = { team: stack.team, stackId: stack.stackId, subject: { kind: "server", name: server } };
  const found = await page(deps, key, query, SETTLED.has(rec.status), `server \`${server}\``);
  return { server, ...found };
}

/** What a hook is called: `post:1`, `pre:0`, `destroy:0`, `undo:2` (in a path, `post.1`). */
const HOOK_NAME = /^(pre|post|destroy|undo)[:.](\d{1,4})$/;

/** A hook's log: each of its runs that printed (run_script). */
export async function hookLogs(
  deps: ServerAccessDeps,
  stack: StackRecord,
  hook: string,
  query: LogQuery,
): Promise<LogPage & { hook: string }> {
  const match = HOOK_NAME.exec(hook);
  if (!match) throw badRequest(`hook \`${hook.slice(0, 40)}\`: expected PHASE:INDEX such as post:1 or pre:0`);
  const phase = match[1] as HookPhase;
  const index = Number(match[2]);
  const name = `${phase}:${index}`;
  const hooks = await deps.store.listHooks(stack);
  const rec = hooks.find((h) => h.phase === phase && h.index === index);
  if (!rec) throw notFound(`stack \`${stack.stackId}\` has no hook ${name}`);
  const key: LogKey = { team: stack.team, stackId: stack.stackId, subject: { kind: "hook", name } };
  const settled = rec.status !== "RUNNING" && rec.status !== "PENDING";
  const kept = await logsOf(deps).read(key, query);
  if (kept) return { hook: name, ...kept };
  // Where runs keep no log (the AWS hook function), the hook's record has its last run's output.
  if (query.attempt === undefined && rec.output !== undefined && rec.output !== "") {
    const bytes = Buffer.from(rec.output, "utf8");
    const offset = Math.min(query.after ?? 0, bytes.length);
    const { text, used } = decodePage(bytes.subarray(offset), settled);
    return {
      hook: name,
      ...emptyPage(settled),
      attempt: 1,
      attempts: 1,
      offset,
      next: offset + used,
      text,
      kind: "hook",
      ...(rec.exitCode !== undefined ? { exitCode: rec.exitCode } : {}),
    };
  }
  return { hook: name, ...(await page(deps, key, query, settled, `hook ${name}`)) };
}

async function serverRecord(
  deps: ServerAccessDeps,
  stack: StackRecord,
  server: string,
): Promise<ServerRecord> {
  const rec = await deps.store.getServer(stack, server);
  if (!rec) throw notFound(`stack \`${stack.stackId}\` has no server \`${server}\``);
  return rec;
}

/** A word for a POSIX shell, quoted so that it stays one word whatever it holds. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Runs a command on a server through its provider's runScript (local: inside its sandbox, as
 * user_data runs; sim: simulated; aws: SSM Run Command), and answers its exit code and its
 * output, masked and bounded.
 * @throws ApiError 409 when the server is not running, 400 for an empty command.
 */
export async function execOnServer(
  deps: ServerAccessDeps,
  stack: StackRecord,
  server: string,
  request: ExecRequest,
): Promise<ExecResult> {
  if (request.command.length === 0 || request.command[0] === "")
    throw badRequest('command: expected the program and its arguments, such as ["cat", "/etc/config"]');
  const rec = await serverRecord(deps, stack, server);
  if (rec.status === "STOPPED") throw conflict(`server \`${server}\` is stopped; start the stack first`);
  if (rec.status !== "SUCCEEDED" || !rec.artifacts?.Id) {
    throw conflict(
      `server \`${server}\` is ${rec.status.toLowerCase()}, not running; exec needs a server that came up`,
    );
  }
  if (!deps.provider) throw new ApiError(501, "NotImplemented", "exec is not available in this deployment");
  const timeoutSeconds = request.timeoutSeconds ?? EXEC_DEFAULT_TIMEOUT_SECONDS;
  const mask = deps.secrets
    ? (await runSecrets(deps.secrets, stack.team, rec.context)).mask
    : (t: string) => t;
  // `exec`: the command replaces the shell, so its exit code and signals are its own.
  const script = `exec ${request.command.map(shellQuote).join(" ")}\n`;
  try {
    const result = await deps.provider(rec.provider).runScript(refOf(rec), script, {
      timeoutMs: timeoutSeconds * 1000,
      maxOutputBytes: EXEC_MAX_OUTPUT_BYTES,
    });
    return { exitCode: result.exitCode, output: mask(result.output), truncated: result.truncated };
  } catch (err) {
    if (err instanceof ApiError || !(err instanceof TeamstackError)) throw err;
    // The provider's own words (a stopped sandbox, an instance gone), masked.
    throw conflict(`cannot run the command on \`${server}\`: ${mask(err.message)}`);
  }
}

/**
 * Keeps what a server's readiness callback carries (aws: the end of user_data's output, which
 * streams nowhere else) as an attempt of its log. Only masked: without the secrets to mask it, the
 * output is not kept.
 */
export async function keepReadyOutput(
  logs: ServerLogs | undefined,
  key: { readonly team: string; readonly stackId: string },
  server: string,
  report: { readonly exitCode: number; readonly output?: string },
  mask: ((text: string) => string) | undefined,
): Promise<void> {
  if (!mask) return;
  const output = report.output ?? "";
  await keepOutput(
    logs,
    { team: key.team, stackId: key.stackId, subject: { kind: "server", name: server } },
    "user_data",
    `[teamstack] the end of user_data's output, as the server reported it (the whole of it is in ${AWS_USER_DATA_LOG} on the server)\n${mask(output)}`,
    report.exitCode,
  );
}

/** Where the aws wrapper keeps user_data's whole output on the instance. */
const AWS_USER_DATA_LOG = "/var/lib/teamstack/user-data.log";
