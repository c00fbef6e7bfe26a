import { statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Io, Values } from "./command.ts";

/**
 * Which state directory a command uses, found the way git finds its repository: `--state-dir`
 * wins; then the nearest `.teamstack` folder in the current folder or one above it; then
 * `TEAMSTACK_STATE_DIR`; then the per-user default (`$XDG_STATE_HOME/teamstack`, or
 * `~/.local/state/teamstack`).
 *
 * `TEAMSTACK_CEILING_DIRECTORIES` (absolute folders, separated by `:`), like git's
 * GIT_CEILING_DIRECTORIES, stops the search: a listed folder and the folders above it are not
 * searched. The test suite sets it to the project's root so that a developer's own `.teamstack`
 * there is never picked up.
 */

/** The folder name looked for in the current folder and its parents. */
export const STATE_DIR_NAME = ".teamstack";

/** How the state directory was chosen, for the line that names it. */
export type StateDirSource = "flag" | "found" | "env" | "default";

export interface FoundStateDir {
  /** Absolute. */
  readonly dir: string;
  readonly source: StateDirSource;
}

export interface StateDirContext {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
  /** Whether `path` is a folder (tests pass their own). */
  readonly isFolder?: (path: string) => boolean;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The ceiling folders of `TEAMSTACK_CEILING_DIRECTORIES` (relative entries are ignored, as git does). */
function ceilings(env: StateDirContext["env"]): string[] {
  return (env.TEAMSTACK_CEILING_DIRECTORIES ?? "")
    .split(":")
    .filter((d) => d !== "" && isAbsolute(d))
    .map((d) => resolve(d));
}

/** The nearest `.teamstack` folder in `cwd` or above it (below any ceiling), if there is one. */
export function nearestStateDir(
  cwd: string,
  env: StateDirContext["env"],
  exists = isFolder,
): string | undefined {
  const stops = ceilings(env);
  for (let at = resolve(cwd); ; at = dirname(at)) {
    if (stops.includes(at)) return undefined;
    const candidate = join(at, STATE_DIR_NAME);
    if (exists(candidate)) return candidate;
    if (dirname(at) === at) return undefined;
  }
}

/** The state directory for `--state-dir` (undefined when not given), in the order above. */
export function findStateDir(given: string | undefined, context: StateDirContext): FoundStateDir {
  const { cwd, env } = context;
  if (given !== undefined && given !== "") return { dir: resolve(cwd, given), source: "flag" };
  const found = nearestStateDir(cwd, env, context.isFolder ?? isFolder);
  if (found !== undefined) return { dir: found, source: "found" };
  const fromEnv = env.TEAMSTACK_STATE_DIR;
  if (fromEnv !== undefined && fromEnv !== "") return { dir: resolve(cwd, fromEnv), source: "env" };
  // XDG: a relative XDG_STATE_HOME is invalid and ignored.
  const xdg = env.XDG_STATE_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(context.home, ".local", "state");
  return { dir: join(base, "teamstack"), source: "default" };
}

/** The state directory of this process (its working folder, environment and home). */
export function findProcessStateDir(given: string | undefined): FoundStateDir {
  return findStateDir(given, { cwd: process.cwd(), env: process.env, home: homedir() });
}

/** Whether a folder exists at `dir` (the state directory is about to be created when not). */
export function stateDirExists(dir: string): boolean {
  return isFolder(dir);
}

/** The line a command prints on stderr when it creates the state directory it found. */
export function createdLine(found: FoundStateDir): string {
  const why: Record<StateDirSource, string> = {
    flag: "--state-dir",
    found: "the nearest .teamstack folder",
    env: "TEAMSTACK_STATE_DIR",
    default: `the per-user default; a ${STATE_DIR_NAME} folder here or above, TEAMSTACK_STATE_DIR or --state-dir chooses another`,
  };
  return `teamstack: created the state directory ${found.dir} (${why[found.source]})\n`;
}

/**
 * ` --state-dir DIR` for a command line printed for the user to run next, or nothing when the
 * same command run from here would find that directory by itself.
 */
export function stateDirFlag(dir: unknown): string {
  if (typeof dir !== "string" || dir === "") return "";
  return findProcessStateDir(undefined).dir === resolve(dir) ? "" : ` --state-dir ${dir}`;
}

/**
 * The state directory found (src/cli/state-dir.ts) in place of --state-dir, and an Io that names
 * it on stderr once the command has created it: before the command's first line after that, or
 * when it ends (a command that never needs it, such as `plan` without --stack, creates nothing).
 */
export function withStateDir(values: Values, io: Io): { values: Values; io: Io; announce: () => void } {
  const found = findProcessStateDir(values["state-dir"] as string | undefined);
  let pending = !stateDirExists(found.dir);
  const announce = (): void => {
    if (pending && stateDirExists(found.dir)) {
      pending = false;
      io.err(createdLine(found));
    }
  };
  return {
    values: { ...values, "state-dir": found.dir },
    io: {
      out: (text) => {
        announce();
        io.out(text);
      },
      err: (text) => {
        announce();
        io.err(text);
      },
      ...(io.terminal ? { terminal: io.terminal } : {}),
    },
    announce,
  };
}
