import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { Command } from "../../../src/cli/command.ts";
import { commandInfo, completionScript, verbsOf } from "../../../src/cli/completion.ts";
import { COMMANDS } from "../../../src/cli/main.ts";

const hasBash = spawnSync("bash", ["--version"]).status === 0;

/** What bash offers for `words` (the last one being completed) with the generated script loaded. */
function bashComplete(words: readonly string[]): string[] {
  const script = `${completionScript("bash", COMMANDS)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})
COMP_CWORD=${words.length - 1}
_teamstack
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const run = spawnSync("bash", ["--norc", "--noprofile", "-c", script], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(run.stderr);
  return run.stdout.split("\n").filter((l) => l !== "");
}

describe.skipIf(!hasBash)("completion bash", () => {
  it("completes command names", () => {
    expect(bashComplete(["teamstack", "te"])).toEqual(["templates"]);
    expect(bashComplete(["teamstack", ""]).sort()).toEqual(COMMANDS.map((c) => c.name).sort());
  });

  it("completes each command's flags", () => {
    expect(bashComplete(["teamstack", "up", "--sim"])).toEqual(["--simulate", "--simulate-provider"]);
    expect(bashComplete(["teamstack", "templates", "--ver"])).toEqual(["--version"]);
    expect(bashComplete(["teamstack", "rerun", "--"]).sort()).toEqual(
      ["--endpoint", "--help", "--json", "--state-dir"].sort(),
    );
  });

  it("completes verbs, and leaves a flag's value to the shell", () => {
    expect(bashComplete(["teamstack", "templates", "s"])).toEqual(["show"]);
    expect(bashComplete(["teamstack", "completion", ""])).toEqual(["bash", "zsh", "fish"]);
    expect(bashComplete(["teamstack", "up", "--state-dir", ""])).toEqual([]);
  });
});

describe("completion scripts", () => {
  it("lists every command and flag in zsh's and fish's", () => {
    const zsh = completionScript("zsh", COMMANDS);
    const fish = completionScript("fish", COMMANDS);
    expect(zsh.startsWith("#compdef teamstack\n")).toBe(true);
    expect(zsh).toContain("compdef _teamstack teamstack");
    for (const c of COMMANDS) {
      expect(zsh).toContain(`'${c.name}:`);
      expect(fish).toContain(`-a ${c.name} -d `);
      for (const flag of Object.keys(c.options)) {
        expect(zsh).toContain(`--${flag}`);
        expect(fish).toMatch(new RegExp(`__fish_seen_subcommand_from ${c.name}' -l ${flag}\\b`));
      }
    }
    // A flag that takes a file completes file names; a yes/no flag takes no value.
    expect(zsh).toContain(
      `--userdata'[The member'\\''s data for $koding.userdata.KEY, as {"KEY"\\:"value"}.]:userdata:_files'`,
    );
    expect(fish).toContain("__fish_seen_subcommand_from up' -l userdata -r -F");
    expect(fish).toContain("__fish_seen_subcommand_from up' -l yes -s y -d");
  });

  it("reads verbs from usage when a command does not list them", () => {
    expect(
      verbsOf({ name: "secrets", usage: "teamstack secrets set X | secrets list [--json] | secrets rm X" }),
    ).toEqual(["set", "list", "rm"]);
    expect(commandInfo(COMMANDS.find((c) => c.name === "templates") as Command).verbs).toEqual([
      "push",
      "list",
      "show",
      "default",
    ]);
  });
});
