import { execFile } from "node:child_process";
import { access, constants, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { removeTree } from "../../shared/state-files.ts";
import { SandboxUnsupportedError } from "./errors.ts";

/** How this machine makes sandboxes. */
export interface LocalSupport {
  /** `root`: plain namespaces; `userns`: inside an unprivileged user namespace, mapped to root. */
  readonly mode: "root" | "userns";
  readonly unshare: string;
  readonly nsenter: string;
  /** bash: the holder needs it, and user_data without a `#!` line runs in it. */
  readonly bash: string;
  /** Whether overlayfs could be mounted in a sandbox; without it, small directories are copied. */
  readonly overlay: boolean;
  /** What the probe noticed that does not stop sandboxes (e.g. why overlayfs is unavailable). */
  readonly notes: readonly string[];
}

/** Where tools are looked for, besides PATH: sbin directories are often missing from a user's PATH. */
const TOOL_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The PATH that sandboxes (and the holder) get. */
export const SANDBOX_PATH = TOOL_DIRS.join(":");

/** Tools the holder runs inside the sandbox; all are in coreutils or util-linux. */
const HOLDER_TOOLS = [
  "mount",
  "env",
  "head",
  "mv",
  "mkdir",
  "rm",
  "cp",
  "du",
  "cut",
  "cat",
  "readlink",
  "sleep",
];

/** Finds an executable on PATH or in the usual system directories. */
export async function findTool(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((d) => d.startsWith("/")), ...TOOL_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
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
    execFile(file, args, { timeout: 15_000, env: { PATH: SANDBOX_PATH } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

/** The namespace flags of a sandbox's `unshare`, before the command. */
export function unshareArgs(mode: LocalSupport["mode"]): string[] {
  return [
    ...(mode === "userns" ? ["--user", "--map-root-user"] : []),
    "--mount",
    "--uts",
    "--ipc",
    "--pid",
    "--fork",
    "--kill-child",
    "--propagation",
    "private",
  ];
}

// Mounts proc and an overlay inside fresh namespaces, as a sandbox does, and says how it went.
const PROBE = `
set -u
mount -t proc proc /proc || { echo "PROBE proc-failed"; exit 3; }
cd "$1" && mkdir -p lower upper work merged
if err=$(mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged 2>&1); then
  echo "PROBE overlay-ok"
else
  echo "PROBE overlay-failed $err"
fi
`;

let detected: Promise<LocalSupport> | undefined;

/**
 * Finds out how (and whether) this machine can make sandboxes: tools, privileges, kernel features.
 * Probes once per process by starting real namespaces.
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
 *   "cannot create a sandbox: `unshare` not found (install util-linux)".
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
  const unshare = (await findTool("unshare")) ?? fail("`unshare` not found (install util-linux)");
  const nsenter = (await findTool("nsenter")) ?? fail("`nsenter` not found (install util-linux)");
  const bash = (await findTool("bash")) ?? fail("`bash` not found (install bash)");
  for (const tool of HOLDER_TOOLS) {
    if (!(await findTool(tool))) fail(`\`${tool}\` not found (install coreutils and util-linux)`);
  }

  const isRoot = process.getuid?.() === 0;
  if (!isRoot) await checkUserNamespaceSysctls(fail);

  const dir = await mkdtemp(join(tmpdir(), "teamstack-probe-"));
  try {
    let mode: LocalSupport["mode"] = isRoot ? "root" : "userns";
    let result = await probeNamespaces(unshare, bash, mode, dir);
    // Root without CAP_SYS_ADMIN (an unprivileged container) may still make user namespaces.
    if (!result.ok && isRoot) {
      const viaUserns = await probeNamespaces(unshare, bash, "userns", dir);
      if (viaUserns.ok) {
        mode = "userns";
        result = viaUserns;
      }
    }
    if (result.procFailed) {
      fail(
        `/proc cannot be mounted in a new PID namespace here (${mode === "root" ? "as root" : "in a user namespace"})`,
      );
    }
    if (!result.ok) {
      fail(
        isRoot
          ? `\`unshare ${unshareArgs("root").join(" ")}\` failed: ${result.output}`
          : `an unprivileged user namespace could not be created (${result.output}) and teamstack is not running as root`,
      );
    }
    const notes = result.overlay
      ? []
      : [
          `overlayfs is not available in a sandbox (${result.overlayError}); small directories are copied instead`,
        ];
    return { mode, unshare, nsenter, bash, overlay: result.overlay, notes };
  } finally {
    await removeTree(dir);
  }
}

async function checkUserNamespaceSysctls(fail: (what: string) => never): Promise<void> {
  const clone = await readSysctl("/proc/sys/kernel/unprivileged_userns_clone");
  if (clone === "0") {
    fail(
      "user namespaces are disabled (kernel.unprivileged_userns_clone=0) and teamstack is not running as root",
    );
  }
  const max = await readSysctl("/proc/sys/user/max_user_namespaces");
  if (max === "0") {
    fail("user namespaces are disabled (user.max_user_namespaces=0) and teamstack is not running as root");
  }
  const apparmor = await readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  if (apparmor === "1") {
    fail(
      "AppArmor forbids unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1) and teamstack is not running as root",
    );
  }
}

interface ProbeResult {
  readonly ok: boolean;
  readonly procFailed: boolean;
  readonly overlay: boolean;
  readonly overlayError: string;
  readonly output: string;
}

async function probeNamespaces(
  unshare: string,
  bash: string,
  mode: LocalSupport["mode"],
  dir: string,
): Promise<ProbeResult> {
  const { code, output } = await run(unshare, [...unshareArgs(mode), "--", bash, "-c", PROBE, "probe", dir]);
  const procFailed = output.includes("PROBE proc-failed");
  const overlay = output.includes("PROBE overlay-ok");
  const ok = code === 0 && (overlay || output.includes("PROBE overlay-failed"));
  return {
    ok,
    procFailed,
    overlay,
    overlayError: output.replace(/^[\s\S]*PROBE overlay-failed /, ""),
    output: output || `exit code ${code}`,
  };
}
