import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/** A state directory that cannot be created, read or written. */
export class StateDirError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.StateDirError;
  }
}

/** How deep a state directory may be created (its missing ancestors included). */
const MAX_NEW_LEVELS = 32;

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOENT":
      return "no such file or directory (a folder above it is missing, or takes no new folders)";
    case "ENOTDIR":
      return "a part of the path is a file, not a folder";
    case "EROFS":
      return "the file system is read-only";
    case "ENOSPC":
      return "no space left on the device";
    default:
      return (err as Error)?.message ?? String(err);
  }
}

/**
 * Makes one folder and the missing ones above it, mode 0700. Node's `mkdir({recursive})` loops
 * for ever under /proc (it keeps retrying where it may not create), so the walk is ours.
 */
async function makeFolder(dir: string, depth: number): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code !== "ENOENT" || depth >= MAX_NEW_LEVELS || dirname(dir) === dir) throw err;
    await makeFolder(dirname(dir), depth + 1);
    await mkdir(dir, { mode: 0o700 }).catch((again: unknown) => {
      if ((again as NodeJS.ErrnoException).code !== "EEXIST") throw again;
    });
  }
}

/**
 * Makes sure `stateDir` (an absolute path) is a folder this process can read and write, making
 * it (mode 0700) when it is missing.
 * @throws StateDirError saying why it cannot be used, at once.
 */
export async function openStateDir(stateDir: string): Promise<void> {
  const what = `the state directory ${stateDir}`;
  try {
    await makeFolder(stateDir, 0);
  } catch (err) {
    throw new StateDirError(
      `cannot create ${what}: ${reason(err)}; give --state-dir a folder you can write`,
      {
        cause: err,
      },
    );
  }
  try {
    if (!(await stat(stateDir)).isDirectory()) {
      throw new StateDirError(`${what} is not a folder; give --state-dir a folder you can write`);
    }
    await access(stateDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof StateDirError) throw err;
    throw new StateDirError(`cannot use ${what}: ${reason(err)}; give --state-dir a folder you can write`, {
      cause: err,
    });
  }
}
