import {
  chmod,
  copyFile,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../../shared/state-files.ts";

/**
 * The writable part of a sandbox's file system, under `<sandbox dir>/root/`. Each directory here
 * is bound at `/<name>` inside the sandbox; everything else a sandbox sees is the host's system
 * directories, read-only, and file systems of its own (/proc, /dev, a tmpfs /run).
 */
export const WRITABLE_DIRS = ["etc", "var", "home", "root", "opt", "srv", "tmp", "mnt", "media"] as const;

/** Directories of the sandbox's /var, as a fresh system has them. */
const VAR_DIRS = ["log", "lib", "tmp", "cache", "spool", "mail", "opt", "local", "backups"];

/** Who owns the sandbox's files: the sandbox's own host uid and gid in root mode, or nobody to change to. */
export interface RootfsOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Makes a sandbox's writable directories: a copy of the host's /etc holding only what any user
 * of the host may read (files not readable by "other" - /etc/shadow, sudoers, ssh host keys,
 * private TLS keys - and directories not searchable by "other" are left out), its own /etc/hosts
 * and /etc/hostname, a skeleton /var, and empty /home, /root, /opt, /srv, /tmp, /mnt, /media.
 * Directories are 0700 and files 0600 (0700 when executable): inside the sandbox all of them
 * belong to its uid 0, the only user there.
 */
export async function buildRootfs(
  root: string,
  sandbox: { readonly server: string; readonly address: string },
  owner: RootfsOwner | undefined,
): Promise<void> {
  const own = async (path: string): Promise<void> => {
    if (owner) await lchown(path, owner.uid, owner.gid);
  };
  const dir = async (path: string): Promise<void> => {
    await mkdir(path, { mode: 0o700 });
    await chmod(path, 0o700);
    await own(path);
  };
  await dir(root);
  for (const name of WRITABLE_DIRS) {
    if (name === "etc") continue;
    await dir(join(root, name));
  }
  for (const name of VAR_DIRS) await dir(join(root, "var", name));
  for (const [name, target] of [
    ["run", "../run"],
    ["lock", "../run/lock"],
  ] as const) {
    await symlink(target, join(root, "var", name));
    await own(join(root, "var", name));
  }

  await copyReadable("/etc", join(root, "etc"), own);
  const hosts = await readReadable("/etc/hosts");
  const lines = hosts ?? "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  await replaceFile(
    join(root, "etc", "hosts"),
    `${lines.endsWith("\n") || lines === "" ? lines : `${lines}\n`}${sandbox.address}\t${sandbox.server}\n`,
    own,
  );
  await replaceFile(join(root, "etc", "hostname"), `${sandbox.server}\n`, own);
}

/** A host file's text when any user may read it (it and every directory above it), else undefined. */
async function readReadable(path: string): Promise<string | undefined> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isFile() || (st.mode & 0o004) === 0) return undefined;
  return readFile(path, "utf8").catch(() => undefined);
}

async function replaceFile(
  path: string,
  content: string,
  own: (path: string) => Promise<void>,
): Promise<void> {
  await writeFile(path, content, { mode: 0o600, flag: "w" });
  await chmod(path, 0o600);
  await own(path);
}

/**
 * Copies the tree at `from` to `to`, keeping only what "other" may read: directories that
 * "other" can list and enter, regular files "other" can read, and symbolic links (as links).
 * Devices, sockets and FIFOs are left out.
 */
async function copyReadable(from: string, to: string, own: (path: string) => Promise<void>): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  await chmod(to, 0o700);
  await own(to);
  let names: string[];
  try {
    names = await readdir(from);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "EACCES")) return;
    throw err;
  }
  // One directory's entries at once: the copy is a thousand small files, mostly waiting on syscalls.
  await Promise.all(names.map((name) => copyEntry(join(from, name), join(to, name), own)));
}

async function copyEntry(
  source: string,
  target: string,
  own: (path: string) => Promise<void>,
): Promise<void> {
  const st = await lstat(source).catch(() => undefined);
  if (!st) return;
  if (st.isSymbolicLink()) {
    const link = await readlink(source).catch(() => undefined);
    if (link === undefined) return;
    await symlink(link, target);
    await own(target);
  } else if (st.isDirectory()) {
    if ((st.mode & 0o005) !== 0o005) return;
    await copyReadable(source, target, own);
  } else if (st.isFile()) {
    if ((st.mode & 0o004) === 0) return;
    try {
      await copyFile(source, target);
    } catch (err) {
      // Gone or unreadable since we looked: the sandbox does without it.
      if (isErrno(err, "ENOENT") || isErrno(err, "EACCES")) return;
      throw err;
    }
    await chmod(target, (st.mode & 0o111) !== 0 ? 0o700 : 0o600);
    await own(target);
  }
}
