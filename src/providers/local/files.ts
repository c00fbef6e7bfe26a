import { randomBytes } from "node:crypto";
import { link, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isErrno } from "../../shared/state-files.ts";

// Every file and directory the provider makes under the state directory is private to the
// user teamstack runs as (0600 and 0700), whatever the process's umask.

/** Creates a directory (and its missing parents) at mode 0700. */
export async function mkdirPrivate(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}

/** Writes a file at mode 0600 so that readers see either the old content or the new one, never a part. */
export async function writePrivateAtomic(path: string, content: string): Promise<void> {
  await mkdirPrivate(dirname(path));
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates `path` (mode 0600) with `content` only if it does not exist yet, atomically: of two
 * concurrent callers (in any processes) exactly one succeeds.
 * @returns false when the file already existed.
 */
export async function createPrivateExclusive(path: string, content: string): Promise<boolean> {
  await mkdirPrivate(dirname(path));
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if (isErrno(err, "EEXIST")) return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}
