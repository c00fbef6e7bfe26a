import { resolve } from "node:path";
import { TeamstackError } from "../core/errors.ts";
import { localConfig } from "../local/config.ts";
import { openStateDir } from "../local/state-dir.ts";
import { createLocalSecrets } from "../secrets/local-secrets.ts";
import { type Command, UsageError, type Values } from "./command.ts";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

async function secretsOf(values: Values) {
  const stateDir = resolve(typeof values["state-dir"] === "string" ? values["state-dir"] : ".teamstack");
  await openStateDir(stateDir);
  const key = localConfig().secretsKey;
  return createLocalSecrets({ stateDir, ...(key ? { key } : {}) });
}

/** Reads a secret's value from stdin: piped (all of it), or typed on a terminal (see readTyped). */
async function readValue(): Promise<string> {
  if (process.stdin.isTTY) return readTyped(process.stdin);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is the shell's, not the secret's.
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/**
 * Reads one line typed on a terminal without echoing it: the terminal is put in raw mode, so
 * nothing typed shows, and restored after. Enter or Ctrl-D ends the value, Backspace takes back
 * a character, Ctrl-C cancels. A multi-line value is piped in instead.
 * @throws TeamstackError when cancelled.
 */
async function readTyped(stdin: typeof process.stdin): Promise<string> {
  // Echo goes off before the prompt shows: keys typed once it shows are never displayed.
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  process.stderr.write("value (not shown; Enter ends it; pipe a multi-line value in instead): ");
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = "";
      const finish = (result: () => void): void => {
        stdin.off("data", onData);
        result();
      };
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            finish(() => resolve(value));
            return;
          }
          if (ch === "\u0003") {
            finish(() => reject(new TeamstackError("cancelled; no secret was stored")));
            return;
          }
          if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
          else value += ch;
        }
      };
      stdin.on("data", onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

export const secretsCommand: Command = {
  name: "secrets",
  summary: "Manage team and member secrets (values never printed): set, list, rm.",
  usage:
    "teamstack secrets set --team T [--member M] NAME  |  secrets list [--team T] [--json]  |  secrets rm --team T [--member M] NAME",
  options: {
    team: { type: "string" },
    member: { type: "string" },
    json: { type: "boolean" },
    "state-dir": { type: "string" },
  },
  help: [
    ["--team T", "The team the secret belongs to."],
    ["--member M", "A member's secret (for $koding.userdata.NAME) instead of a team secret."],
    ["--json", "list: print JSON."],
    [
      "--state-dir DIR",
      "Where local stacks live (default: the nearest .teamstack folder here or above, then $TEAMSTACK_STATE_DIR, then ~/.local/state/teamstack).",
    ],
  ],
  async run(values, args, io) {
    const [verb, name, ...rest] = args;
    const team = values.team as string | undefined;
    const member = values.member as string | undefined;
    if (team !== undefined && !NAME.test(team))
      throw new UsageError(`--team \`${team}\`: letters, digits, _, . and -`);
    if (member !== undefined && !NAME.test(member))
      throw new UsageError(`--member \`${member}\`: letters, digits, _, . and -`);
    const scope = { team: team as string, ...(member ? { member } : {}) };
    const secrets = await secretsOf(values);
    if (verb === "set" || verb === "rm") {
      if (!team) throw new UsageError(`secrets ${verb} needs --team`);
      if (!name || rest.length > 0) throw new UsageError(`give one secret NAME`);
      if (verb === "set") {
        const value = await readValue();
        if (value === "") throw new UsageError("the value read from stdin is empty");
        await secrets.set(scope, name, value);
        io.err(`stored ${member ? `member ${member}'s` : `team ${team}'s`} secret ${name}\n`);
        return 0;
      }
      if (!(await secrets.remove(scope, name))) {
        io.err(
          `teamstack secrets rm: no secret ${name} for ${member ? `member ${member} of ` : ""}team ${team}\n`,
        );
        return 1;
      }
      io.err(`removed ${name}\n`);
      return 0;
    }
    if (verb === "list") {
      if (name) throw new UsageError("secrets list takes no NAME");
      const entries = await secrets.list(team);
      if (values.json) io.out(`${JSON.stringify(entries, null, 2)}\n`);
      else
        for (const e of entries)
          io.out(
            `${e.team}  ${(e.member ?? (e.credential !== undefined ? `(credential ${e.credential})` : "(team)")).padEnd(12)} ${e.name}  ${e.updatedAt}\n`,
          );
      return 0;
    }
    throw new UsageError(verb === undefined ? "give set, list or rm" : `unknown secrets command \`${verb}\``);
  },
};
