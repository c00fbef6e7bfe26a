import { parseArgs } from "node:util";
import { TeamstackError } from "../core/errors.ts";
import { eventsCommand, serveCommand, tokenCommand } from "./api-commands.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { FileError } from "./files.ts";
import { secretsCommand } from "./secrets-command.ts";
import { downCommand, listCommand, rerunCommand, statusCommand, upCommand } from "./stack-commands.ts";
import { planCommand, renderCommand, validateCommand } from "./template-commands.ts";

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const COMMANDS: readonly Command[] = [
  validateCommand,
  planCommand,
  renderCommand,
  upCommand,
  statusCommand,
  listCommand,
  rerunCommand,
  downCommand,
  serveCommand,
  tokenCommand,
  eventsCommand,
  secretsCommand,
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

/**
 * Runs the teamstack command line and returns the exit code: 0 success, 1 the work failed
 * (an invalid template, a failed stack), 2 a usage error or an unreadable file.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
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
    io.err(
      `teamstack: unknown command \`${name}\`; expected one of ${COMMANDS.map((c) => c.name).join(", ")}\n`,
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
    io.err(`teamstack ${command.name}: ${(error as Error).message}\nUsage: ${command.usage}\n`);
    return 2;
  }
  if (values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  try {
    return await command.run(values, positionals, io);
  } catch (error) {
    if (error instanceof FileError) {
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
    io.err(`teamstack ${command.name}: internal error: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}
