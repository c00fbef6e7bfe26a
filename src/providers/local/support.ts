import { execFile } from "node:child_process";
import { lstatSync, readlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { delimiter } from "node:path";
import { findExecutable } from "../../shared/find-executable.ts";
import { SandboxUnsupportedError } from "./errors.ts";

/** How this machine makes sandboxes. */
export interface LocalSupport {
  /**
   * `root`: teamstack runs as root, and each sandbox runs as its own unprivileged host uid (see
   * {@link sandboxUid}), mapped to uid 0 inside its user namespace. `user`: teamstack runs as an
   * ordinary user, and sandboxes run as that user's uid, mapped to uid 0 inside.
   */
  readonly mode: "root" | "user";
  readonly bwrap: string;
  readonly nsenter: string;
  readonly setpriv: string;
  /** Root mode only: gives the sandbox's files to its uid without opening the state directory to it. */
  readonly unshare: string;
  readonly mount: string;
  /** bash: runs user_data and scripts without a `#!` line, inside the sandbox. */
  readonly bash: string;
}

/** Where tools are looked for, besides PATH: sbin directories are often missing from a user's PATH. */
const TOOL_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The PATH that sandboxes get. */
export const SANDBOX_PATH = TOOL_DIRS.join(":");

/**
 * The host uid (and gid) a sandbox runs as when teamstack runs as root: one per loopback address,
 * so that no two live sandboxes of a state directory share one. The range 0x71000000 to
 * 0x71FEFFFE lies in the block systemd leaves unused (1879048192 to 2147352575), far above the
 * uids of users, system services and containers.
 */
export const SANDBOX_UID_BASE = 0x71000000;

/** The host uid of the sandbox at `address` (127.x.y.z) in root mode. */
export function sandboxUid(address: string): number {
  const [, x, y, z] = address.split(".").map(Number);
  if (x === undefined || y === undefined || z === undefined || x < 1) {
    throw new SandboxUnsupportedError(`cannot derive a sandbox uid from the address ${address}`);
  }
  return SANDBOX_UID_BASE + (((x - 1) << 16) | (y << 8) | z);
}

/** Finds an executable on PATH or in the usual system directories. */
export function findTool(name: string): Promise<string | undefined> {
  // Absolute PATH entries only: a relative one would depend on the working directory.
  const path = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d.startsWith("/"))
    .join(delimiter);
  return findExecutable(name, path, TOOL_DIRS);
}

async function readSysctl(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return undefined;
  }
}

function run(file: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: 15_000, env: { PATH: SANDBOX_PATH }, cwd: "/" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

let detected: Promise<LocalSupport> | undefined;

/**
 * Finds out how (and whether) this machine can make sandboxes: tools, privileges, kernel features.
 * Probes once per process by starting a real (empty) sandbox.
 * @throws SandboxUnsupportedError saying exactly what is missing.
 */
export function detectLocalSupport(): Promise<LocalSupport> {
  detected ??= probe().catch((err: unknown) => {
    detected = undefined;
    throw err;
  });
  return detected;
}

/**
 * Checks that this machine can create `local` sandboxes.
 * @throws SandboxUnsupportedError (a LocalSandboxError) saying exactly what is missing, for example
 *   "cannot create a sandbox: bubblewrap (`bwrap`) is not installed; install bubblewrap: apt-get install bubblewrap".
 */
export async function checkLocalSupport(): Promise<void> {
  await detectLocalSupport();
}

async function probe(): Promise<LocalSupport> {
  const fail = (what: string): never => {
    throw new SandboxUnsupportedError(`cannot create a sandbox: ${what}`);
  };
  if (process.platform !== "linux")
    fail(`the local provider needs Linux namespaces; this is ${process.platform}`);
  const bwrap =
    (await findTool("bwrap")) ??
    fail("bubblewrap (`bwrap`) is not installed; install bubblewrap: apt-get install bubblewrap");
  const utilLinux = async (name: string): Promise<string> =>
    (await findTool(name)) ?? fail(`\`${name}\` not found (install util-linux: apt-get install util-linux)`);
  const nsenter = await utilLinux("nsenter");
  const setpriv = await utilLinux("setpriv");
  const unshare = await utilLinux("unshare");
  const mount = await utilLinux("mount");
  const bash = (await findTool("bash")) ?? fail("`bash` not found (install bash)");
  const mode: LocalSupport["mode"] = process.getuid?.() === 0 ? "root" : "user";
  await checkUserNamespaceSysctls(fail);
  const support: LocalSupport = { mode, bwrap, nsenter, setpriv, unshare, mount, bash };
  const { code, output } = await run(...probeCommand(support));
  if (code !== 0 || !output.includes("PROBE ok")) {
    const why = output.replace(/PROBE ok/, "").trim() || `exit code ${code}`;
    if (/namespace|permission|not permitted/i.test(why)) {
      fail(
        `bubblewrap cannot create an unprivileged user namespace here (${why}): enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; in a container, allow unshare/clone of user namespaces in its seccomp profile)`,
      );
    }
    fail(`a test sandbox did not start: ${why}`);
  }
  return support;
}

/**
 * The namespaces and privileges of every sandbox (and of the probe that checks a machine can make
 * one): every namespace but the network's, root of its own user namespace, no capability, and
 * gone when its holder goes.
 */
export const ISOLATION_ARGS: readonly string[] = [
  "--unshare-all",
  "--share-net",
  "--unshare-user",
  "--uid",
  "0",
  "--gid",
  "0",
  "--cap-drop",
  "ALL",
  "--die-with-parent",
];

/** The smallest real sandbox, run as a sandbox would be (as an unprivileged uid in root mode). */
function probeCommand(support: LocalSupport): [string, string[]] {
  const bwrapArgs = [
    ...ISOLATION_ARGS,
    ...systemBinds(),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--",
    support.bash,
    "-c",
    "echo PROBE ok",
  ];
  if (support.mode === "user") return [support.bwrap, bwrapArgs];
  return [
    support.setpriv,
    [
      `--reuid=${SANDBOX_UID_BASE}`,
      `--regid=${SANDBOX_UID_BASE}`,
      "--clear-groups",
      "--",
      support.bwrap,
      ...bwrapArgs,
    ],
  ];
}

/**
 * The host's system directories a sandbox sees, read-only: `/usr`, and `/bin`, `/sbin`, `/lib*`
 * as the symlinks into `/usr` they are on a merged-/usr system, or read-only binds where they are
 * real directories.
 */
export function systemBinds(): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const dir of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const path = `/${dir}`;
    const link = readLinkSync(path);
    if (link !== undefined) args.push("--symlink", link, path);
    else if (isDirSync(path)) args.push("--ro-bind", path, path);
  }
  return args;
}

function readLinkSync(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

function isDirSync(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function checkUserNamespaceSysctls(fail: (what: string) => never): Promise<void> {
  const clone = await readSysctl("/proc/sys/kernel/unprivileged_userns_clone");
  if (clone === "0") {
    fail(
      "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); enable them: sysctl kernel.unprivileged_userns_clone=1",
    );
  }
  const max = await readSysctl("/proc/sys/user/max_user_namespaces");
  if (max === "0") {
    fail(
      "user namespaces are disabled (user.max_user_namespaces=0); enable them: sysctl user.max_user_namespaces=15000",
    );
  }
  const apparmor = await readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  if (apparmor === "1") {
    fail(
      "AppArmor forbids unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1); allow bwrap an AppArmor profile with `userns`, or set the sysctl to 0",
    );
  }
}
