import { createHash, randomBytes } from "node:crypto";
import { chmod, link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Hex SHA-256 of the parts, joined with NUL so that (`ab`, `c`) and (`a`, `bc`) differ. */
export function hashOf(...parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex");
}

// Every file and directory teamstack makes under a state directory is private to the user it
// runs as (0600 and 0700), whatever the process's umask.

/** Creates a directory (and its missing parents) at mode 0700. */
export async function mkdirPrivate(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}

/** Writes a file (0600) so that readers see either the old content or the new one, never a part. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
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
 * Creates `path` (0600) with `content` only if it does not exist yet, atomically: a reader never sees it
 * half-written, and of two concurrent callers (in any processes) exactly one succeeds.
 * @returns false when the file already existed.
 */
export async function createFileExclusive(path: string, content: string): Promise<boolean> {
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

/** Reads and parses a JSON file; `undefined` when it does not exist. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/**
 * Removes a directory tree, even one holding directories without permissions (overlayfs leaves
 * its `work/work` at mode 000, which only root could otherwise enter). A missing tree is fine.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (err) {
    if (!isErrno(err, "EACCES") && !isErrno(err, "EPERM") && !isErrno(err, "ENOTEMPTY")) throw err;
  }
  await openUp(path);
  await rm(path, { recursive: true, force: true });
}

async function openUp(dir: string): Promise<void> {
  const stat = await lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) return;
  await chmod(dir, 0o700).catch(() => undefined);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) await openUp(`${dir}/${name}`);
}

/** True when `err` is a Node system error with the given code. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

/**
 * Runs one operation at a time per key within this process.
 * Operations on different keys run concurrently; a failed operation does not block the next.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
