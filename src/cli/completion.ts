import { type Command, UsageError } from "./command.ts";
import { suggestion } from "./suggest.ts";

/**
 * `teamstack completion bash|zsh|fish`: a script that completes teamstack's commands, their
 * verbs (`templates push`, `secrets set`) and each command's flags, written from the same
 * COMMANDS list that parses them, so it cannot fall behind.
 */

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** One flag of a command, as completion offers it. */
export interface FlagInfo {
  readonly long: string;
  readonly short?: string;
  /** Takes a value (`--name NAME`); `file` when that value is a file or folder. */
  readonly value: "none" | "text" | "file";
  readonly description: string;
}

/** What completion knows of a command. */
export interface CommandInfo {
  readonly name: string;
  readonly summary: string;
  readonly verbs: readonly string[];
  readonly flags: readonly FlagInfo[];
}

/**
 * The verbs of a command, from its usage: the lowercase words right after `teamstack NAME` or
 * `NAME` at the start of each `|` alternative (`secrets set ... | secrets list ...`).
 */
export function verbsOf(command: Pick<Command, "name" | "usage">): string[] {
  const verbs = new Set<string>();
  for (const alternative of command.usage.split("|")) {
    const words = alternative.trim().split(/\s+/);
    const at = words[0] === "teamstack" ? 1 : 0;
    if (words[at] !== command.name) continue;
    const verb = words[at + 1];
    if (verb !== undefined && /^[a-z][a-z-]*$/.test(verb)) verbs.add(verb);
  }
  return [...verbs];
}

/** The help text of a flag: the help entry that names `--long`. */
function describe(command: Command, long: string): string {
  const entry = command.help.find(([flags]) => new RegExp(`(^|[\\s,])--${long}(\\b|$)`).test(flags));
  return entry?.[1] ?? "";
}

/** Completion's view of a command. */
export function commandInfo(command: Command): CommandInfo {
  const flags: FlagInfo[] = Object.entries(command.options).map(([long, option]) => {
    const help = command.help.find(([f]) => new RegExp(`--${long}\\b`).test(f))?.[0] ?? "";
    const file = /(FILE|DIR)\b/.test(help.split(`--${long}`)[1] ?? "");
    return {
      long,
      ...(option.short ? { short: option.short } : {}),
      value: option.type === "boolean" ? "none" : file ? "file" : "text",
      description: describe(command, long),
    };
  });
  flags.push({ long: "help", short: "h", value: "none", description: "Show this help." });
  return { name: command.name, summary: command.summary, verbs: command.verbs ?? verbsOf(command), flags };
}

function firstSentence(text: string): string {
  const cut = text.split(/(?<=\.)\s/)[0] ?? text;
  return cut.replace(/\s+/g, " ").trim();
}

/** Single-quoted for a POSIX shell (bash, zsh). */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function bash(commands: readonly CommandInfo[]): string {
  const cases = commands.map((c) => {
    const flags = c.flags.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]).join(" ");
    const valued = c.flags
      .filter((f) => f.value !== "none")
      .flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]);
    return [
      `    ${c.name})`,
      `      flags=${quote(flags)}`,
      `      verbs=${quote(c.verbs.join(" "))}`,
      `      valued=${quote(valued.join(" "))}`,
      "      ;;",
    ].join("\n");
  });
  return `# bash completion for teamstack (teamstack completion bash)
# Load it in this shell: source <(teamstack completion bash)
_teamstack() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local flags="" verbs="" valued=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W ${quote(commands.map((c) => c.name).join(" "))} -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
    *) return ;;
  esac
  # A flag that takes a value: leave it to the shell (file names).
  case " $valued " in *" $prev "*) return ;; esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
  elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$verbs" ]; then
    COMPREPLY=( $(compgen -W "$verbs" -- "$cur") )
  fi
}
complete -o default -F _teamstack teamstack
`;
}

/** Text for inside zsh's `[...]` and `name:description` items. */
function zshText(text: string): string {
  return firstSentence(text).replace(/[[\]:\\]/g, (ch) => `\\${ch}`);
}

function zsh(commands: readonly CommandInfo[]): string {
  const list = commands.map((c) => `    ${quote(`${c.name}:${zshText(c.summary)}`)}`).join("\n");
  const cases = commands.map((c) => {
    const specs = c.flags.map((f) => {
      const value = f.value === "none" ? "" : f.value === "file" ? `:${f.long}:_files` : `:${f.long}: `;
      const names = f.short ? `{-${f.short},--${f.long}}` : `--${f.long}`;
      const spec = `${quote(`[${zshText(f.description)}]${value}`)}`;
      return `        ${f.short ? `'(-${f.short} --${f.long})'${names}${spec}` : `${names}${spec}`}`;
    });
    const rest = c.verbs.length > 0 ? `'1:verb:(${c.verbs.join(" ")})' '*:file:_files'` : `'*:file:_files'`;
    return [
      `    ${c.name})`,
      "      _arguments \\",
      ...specs.map((s) => `${s} \\`),
      `        ${rest}`,
      "      ;;",
    ].join("\n");
  });
  return `#compdef teamstack
# zsh completion for teamstack (teamstack completion zsh)
# Load it in this shell: source <(teamstack completion zsh)  (after compinit)
_teamstack() {
  local -a commands
  commands=(
${list}
  )
  if (( CURRENT == 2 )); then
    _describe 'teamstack command' commands
    return
  fi
  local command=$words[2]
  shift words
  (( CURRENT-- ))
  case $command in
${cases.join("\n")}
  esac
}
compdef _teamstack teamstack
`;
}

/** Single-quoted for fish (only \\ and ' are special inside). */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (ch) => `\\${ch}`)}'`;
}

function fish(commands: readonly CommandInfo[]): string {
  const lines = [
    "# fish completion for teamstack (teamstack completion fish)",
    "# Load it: teamstack completion fish | source",
    "complete -c teamstack -e",
    `complete -c teamstack -n '__fish_use_subcommand' -f`,
  ];
  for (const c of commands) {
    lines.push(
      `complete -c teamstack -n '__fish_use_subcommand' -a ${c.name} -d ${fishQuote(firstSentence(c.summary))}`,
    );
  }
  for (const c of commands) {
    const on = `'__fish_seen_subcommand_from ${c.name}'`;
    if (c.verbs.length > 0) {
      lines.push(
        `complete -c teamstack -n '__fish_seen_subcommand_from ${c.name}; and not __fish_seen_subcommand_from ${c.verbs.join(" ")}' -f -a ${fishQuote(c.verbs.join(" "))}`,
      );
    }
    for (const f of c.flags) {
      const short = f.short ? ` -s ${f.short}` : "";
      const value = f.value === "none" ? "" : f.value === "file" ? " -r -F" : " -r -f";
      lines.push(
        `complete -c teamstack -n ${on} -l ${f.long}${short}${value} -d ${fishQuote(firstSentence(f.description))}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The completion script for `shell`, from `commands` (the COMMANDS list). */
export function completionScript(shell: Shell, commands: readonly Command[]): string {
  const infos = commands.map(commandInfo);
  return shell === "bash" ? bash(infos) : shell === "zsh" ? zsh(infos) : fish(infos);
}

/** The `completion` command; `commands` gives the list it completes (main's COMMANDS, itself included). */
export function completionCommand(commands: () => readonly Command[]): Command {
  return {
    name: "completion",
    summary: "Print a shell completion script for teamstack's commands and flags: bash, zsh or fish.",
    usage: "teamstack completion bash|zsh|fish",
    options: {},
    help: [],
    verbs: SHELLS,
    async run(_values, args, io) {
      const [shell, ...rest] = args;
      if (shell === undefined || rest.length > 0)
        throw new UsageError(`give one shell: ${SHELLS.join(", ")}`);
      if (!(SHELLS as readonly string[]).includes(shell))
        throw new UsageError(
          `unknown shell \`${shell}\`; expected one of ${SHELLS.join(", ")}${suggestion(shell, SHELLS)}`,
        );
      io.out(completionScript(shell as Shell, commands()));
      return 0;
    },
  };
}
