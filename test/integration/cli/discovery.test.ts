import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKeyFile } from "../../../src/local/api-server.ts";
import { BIN, type CliResult, ROOT, runCli } from "../../support/cli.ts";

// Which state directory a command uses, seen from outside: `token` writes the signing key into
// the state directory it found (and makes it when it is missing), so where the key appears says
// which one was chosen.

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "teamstack-find-"));
  await mkdir(join(root, "repo", ".teamstack"), { recursive: true });
  await mkdir(join(root, "repo", "src", "deep"), { recursive: true });
  await mkdir(join(root, "elsewhere"), { recursive: true });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `teamstack ARGS` run in `cwd`, with only the environment given (plus PATH and HOME). */
function runIn(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd,
        // Discovery never climbs above the temporary folder (a stray /tmp/.teamstack changes nothing).
        env: {
          PATH: process.env.PATH,
          HOME: join(root, "home"),
          TEAMSTACK_CEILING_DIRECTORIES: tmpdir(),
          ...env,
        },
        timeout: 30_000,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          signal: null,
          stdout,
          stderr,
        });
      },
    );
  });
}

const token = ["token", "--team", "t", "--member", "m"];

describe("state directory discovery", () => {
  it("uses the nearest .teamstack above the current folder, before TEAMSTACK_STATE_DIR, silently when it exists", async () => {
    const r = await runIn(join(root, "repo", "src", "deep"), token, {
      TEAMSTACK_STATE_DIR: join(root, "env"),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(signingKeyFile(join(root, "repo", ".teamstack")))).toBe(true);
    expect(existsSync(join(root, "env"))).toBe(false);
    expect(r.stderr).not.toContain("created the state directory");
  });

  it("lets --state-dir win over a .teamstack", async () => {
    const r = await runIn(join(root, "repo"), [...token, "--state-dir", "../flag"]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(signingKeyFile(join(root, "flag")))).toBe(true);
    expect(r.stderr).toContain(
      `teamstack: created the state directory ${join(root, "flag")} (--state-dir)\n`,
    );
  });

  it("takes TEAMSTACK_STATE_DIR where there is no .teamstack, and names it when it makes it", async () => {
    const r = await runIn(join(root, "elsewhere"), token, { TEAMSTACK_STATE_DIR: join(root, "env") });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(signingKeyFile(join(root, "env")))).toBe(true);
    expect(r.stderr).toBe(
      `teamstack: created the state directory ${join(root, "env")} (TEAMSTACK_STATE_DIR)\n`,
    );
    const again = await runIn(join(root, "elsewhere"), token, { TEAMSTACK_STATE_DIR: join(root, "env") });
    expect(again.stderr).toBe("");
  });

  it("falls back to the per-user default under XDG_STATE_HOME or ~/.local/state", async () => {
    const xdg = await runIn(join(root, "elsewhere"), token, { XDG_STATE_HOME: join(root, "xdg") });
    expect(xdg.code, xdg.stderr).toBe(0);
    expect(existsSync(signingKeyFile(join(root, "xdg", "teamstack")))).toBe(true);
    expect(xdg.stderr).toMatch(/created the state directory .*\/xdg\/teamstack \(the per-user default; /);
    const home = await runIn(join(root, "elsewhere"), token);
    expect(home.code, home.stderr).toBe(0);
    expect(existsSync(signingKeyFile(join(root, "home", ".local", "state", "teamstack")))).toBe(true);
  });

  it("creates nothing for a command that does not need it", async () => {
    const r = await runIn(join(root, "elsewhere"), ["plan", join(ROOT, "examples", "depends-on.yaml")], {
      TEAMSTACK_STATE_DIR: join(root, "unused"),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(root, "unused"))).toBe(false);
  });
});

describe("mistakes", () => {
  it("suggests the flag or command meant", async () => {
    const flag = await runCli(["up", "examples/depends-on.yaml", "--jsn"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^teamstack up: unknown option `--jsn`; did you mean `--json`\?\n/);
    const far = await runCli(["rerun", "--zzz"]);
    expect(far.stderr).toMatch(
      /unknown option `--zzz`; rerun takes --state-dir, --json, --endpoint, --help\n/,
    );
    const command = await runCli(["staus"]);
    expect(command.code).toBe(2);
    expect(command.stderr).toBe("teamstack: unknown command `staus`; did you mean `status`?\n");
  });
});

describe("completion", () => {
  it("prints a script for each shell, and refuses others", async () => {
    const bash = await runCli(["completion", "bash"]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -o default -F _teamstack teamstack\n");
    const fish = await runCli(["completion", "fish"]);
    expect(fish.stdout).toContain("complete -c teamstack -n '__fish_use_subcommand' -a templates -d ");
    const other = await runCli(["completion", "tcsh"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("unknown shell `tcsh`; expected one of bash, zsh, fish");
  });
});
