import { parseArgs } from "node:util";
import { TeamstackError } from "../core/errors.ts";
import { StateDirError } from "../local/state-dir.ts";
import { eventsCommand, serveCommand, tokenCommand } from "./api-commands.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { completionCommand } from "./completion.ts";
import { credentialsCommand } from "./credentials-command.ts";
import { FileError } from "./files.ts";
import { processIo } from "./live-table.ts";
import { downCommand, forgetCommand } from "./offboard-commands.ts";
import { extendCommand, startCommand, stopCommand } from "./power-commands.ts";
import { providersCommand } from "./providers-command.ts";
import { rolloutCommand } from "./rollout-command.ts";
import { secretsCommand } from "./secrets-command.ts";
import { execCommand, logsCommand, shellCommand } from "./server-commands.ts";
import { listCommand, rerunCommand, statusCommand, upCommand, updateCommand } from "./stack-commands.ts";
import { withStateDir } from "./state-dir.ts";
import { suggestion, unknownOptionMessage } from "./suggest.ts";
import { membersCommand, policyCommand, templatesCommand } from "./team-commands.ts";
import { planCommand, renderCommand, validateCommand } from "./template-commands.ts";

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  validateCommand,
  planCommand,
  renderCommand,
  upCommand,
  statusCommand,
  listCommand,
  rerunCommand,
  updateCommand,
  downCommand,
  rolloutCommand,
  stopCommand,
  startCommand,
  extendCommand,
  forgetCommand,
  serveCommand,
  tokenCommand,
  eventsCommand,
  secretsCommand,
  credentialsCommand,
  providersCommand,
  logsCommand,
  execCommand,
  shellCommand,
  templatesCommand,
  membersCommand,
  policyCommand,
  completionCommand(() => COMMANDS),
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "teamstack: give every member of a team their own copy of the team's environment.",
    "",
    "Usage: teamstack COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `teamstack COMMAND --help` for a command's options.",
    "",
  ].join("\n");
}

function commandHelp(c: Command): string {
  const width = Math.max(...c.help.map(([flag]) => flag.length), 10);
  return [
    `${c.summary}`,
    "",
    `Usage: ${c.usage}`,
    "",
    "Options:",
    ...c.help.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    `  ${"-h, --help".padEnd(width)}  Show this help.`,
    "",
  ].join("\n");
}

const REPORT_HINT = "this is a bug in teamstack; please report it with the command you ran and this message";

/** How an unexpected error (a bug) is shown: the message, the hint, and where it was thrown. */
export function internalError(command: string, error: unknown): string {
  const stack = error instanceof Error && error.stack ? `\n${error.stack}` : "";
  const message = error instanceof Error ? error.message : String(error);
  return `teamstack ${command}: internal error: ${message}\n(${REPORT_HINT})${stack}\n`;
}

/**
 * The process-level guard: a promise rejection nobody handled is a bug, but it must not end
 * the process (`serve` would stop serving every team, `up` would leave its stack half made).
 * It is reported in full, with the hint to report it, and the command then fails.
 */
function guardRejections(command: string, io: Io): { readonly count: () => number } {
  let count = 0;
  const onRejection = (reason: unknown): void => {
    count++;
    io.err(internalError(command, reason).replace("internal error:", "internal error: unhandled rejection:"));
  };
  process.on("unhandledRejection", onRejection);
  return { count: () => count };
}

/**
 * Runs the teamstack command line and returns the exit code: 0 success, 1 the work failed
 * (an invalid template, a failed stack), 2 a usage error, an unreadable file or an unusable state
 * directory.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  if (io === processIo) {
    // A closed terminal (SIGHUP) or a closed pipe makes writes fail: no reason to end a run.
    for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    io[name === undefined ? "err" : "out"](mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    io.out("teamstack 0.1.0\n");
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const names = COMMANDS.map((c) => c.name);
    io.err(
      `teamstack: unknown command \`${name}\`${suggestion(name, names) || `; expected one of ${names.join(", ")}`}\n`,
    );
    return 2;
  }
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] });
  } catch (error) {
    io.err(`teamstack ${command.name}: ${unknownOptionMessage(command, error)}\nUsage: ${command.usage}\n`);
    return 2;
  }
  if (values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  const guard = guardRejections(command.name, io);
  const found = "state-dir" in command.options ? withStateDir(values, io) : undefined;
  const commandIo = found?.io ?? io;
  try {
    const code = await command.run(found?.values ?? values, positionals, commandIo);
    return guard.count() > 0 ? Math.max(code, 1) : code;
  } catch (error) {
    found?.announce();
    if (error instanceof FileError || error instanceof StateDirError) {
      io.err(`teamstack ${command.name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof UsageError) {
      io.err(`teamstack ${command.name}: ${error.message}\nUsage: ${command.usage}\n`);
      return 2;
    }
    if (error instanceof TeamstackError) {
      io.err(`teamstack ${command.name}: ${error.message}\n`);
      return 1;
    }
    io.err(internalError(command.name, error));
    return 1;
  } finally {
    found?.announce();
  }
}
