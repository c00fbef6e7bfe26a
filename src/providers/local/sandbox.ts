import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import type { AttemptFiles, AttemptMeta } from "../../local/server-logs.ts";
import type { ScriptResult, ServerArtifacts } from "../../ports/provider.ts";
import { isErrno } from "../../shared/state-files.ts";
import type { ProcessIdentity } from "./proc.ts";
import { type LocalSupport, SANDBOX_PATH } from "./support.ts";

/**
 * A sandbox on disk. Under `<stateDir>/sandboxes/<stackId>/<server>/` (directories 0700, files
 * 0600, owned by the user teamstack runs as; `root/` by the sandbox's uid):
 *
 * | file | written by | holds |
 * |---|---|---|
 * | `request.json` | creator, first | token, id, address, uid, type, creation time |
 * | `root/` | creator | the sandbox's writable directories: /etc (a copy), /var, /home, /root, /opt, /srv, /tmp, /mnt, /media |
 * | `holder.json` | holder, once the sandbox runs | host PID and start time of the holder, of `bwrap` and of the sandbox's init |
 * | `holder.log` | holder | setup notes and errors (never user_data's output) |
 * | `output.log`, `output.seg.NNNNNN` | holder | user_data's output, masked and bounded: the head, then the latest segments |
 * | `exit-code` | holder | user_data's exit code, once it has finished |
 * | `sandbox.json` | creator, last | the finished sandbox: artifacts and holder; its presence means "complete" |
 *
 * user_data itself and every script run in the sandbox reach it through pipes, into the
 * sandbox's own tmpfs (`/run/teamstack`): never through a file here. A directory without
 * `sandbox.json` is half-made (its creator died) and is removed before the server is made
 * again. The lock `<stateDir>/sandboxes/<stackId>/.<server>.lock` serialises create and destroy
 * of one server across processes.
 */
export interface SandboxLayout {
  readonly stackDir: string;
  readonly dir: string;
  readonly lock: string;
  readonly request: string;
  readonly record: string;
  readonly root: string;
  readonly holder: string;
  readonly holderLog: string;
  readonly exitCode: string;
  /** Node's compile cache for the holders of a state directory (compiled teamstack code only). */
  readonly holderCache: string;
}

export function sandboxLayout(stateDir: string, stackId: string, server: string): SandboxLayout {
  const stackDir = join(stateDir, "sandboxes", stackId);
  const dir = join(stackDir, server);
  return {
    stackDir,
    dir,
    lock: join(stackDir, `.${server}.lock`),
    request: join(dir, "request.json"),
    record: join(dir, "sandbox.json"),
    root: join(dir, "root"),
    holder: join(dir, "holder.json"),
    holderLog: join(dir, "holder.log"),
    exitCode: join(dir, "exit-code"),
    holderCache: join(stateDir, "sandboxes", ".holder-cache"),
  };
}

/** What the creator records before it starts the holder. */
export interface SandboxRequestFile {
  readonly stackId: string;
  readonly server: string;
  readonly token: string;
  readonly id: string;
  readonly address: string;
  /** The host uid and gid the sandbox runs as (mapped to uid 0 inside). */
  readonly uid: number;
  readonly gid: number;
  readonly type: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

/** What the holder records once the sandbox runs. */
export interface HolderInfo extends ProcessIdentity {
  /** `bwrap`, the holder's child, outside the sandbox. */
  readonly bwrap: ProcessIdentity;
  /** The sandbox's init (PID 1 inside), whose namespaces scripts enter. */
  readonly init: ProcessIdentity;
  /** `pid:[inode]`: every process of the sandbox is in this PID namespace. */
  readonly pidNamespace: string;
}

/** A complete sandbox. */
export interface SandboxRecord extends SandboxRequestFile {
  readonly mode: LocalSupport["mode"];
  readonly holder: HolderInfo;
  readonly artifacts: ServerArtifacts;
  /** Stopped: its processes are gone, its files and its address kept; `start` brings it back. */
  readonly stopped?: true;
}

/** Everything the holder needs, sent on its stdin (never argv or environment: it holds user_data and secrets). */
export interface HolderConfig {
  readonly support: LocalSupport;
  readonly request: SandboxRequestFile;
  /** bwrap's arguments, the fds it reads named as in {@link HOLDER_FDS}. */
  readonly bwrapArgs: readonly string[];
  readonly userData: string;
  /** Secret values the stack uses: masked in the output log. */
  readonly secrets: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly logHeadBytes: number;
  readonly logSegmentBytes: number;
  /**
   * A start after a stop: the sandbox comes back over its kept files and user_data does not run
   * again (its output and exit code stay as they were).
   */
  readonly restart?: true;
  /**
   * The attempt's log (src/local/server-logs.ts) the holder appends user_data's masked output to
   * as it comes, and ends with its exit code.
   */
  readonly attemptLog?: { readonly files: AttemptFiles; readonly meta: AttemptMeta };
}

/**
 * The fds bwrap gets from the holder (3 is left closed): user_data, bwrap's JSON status, and the
 * line the sandbox's init writes once it runs, that is once bwrap has set the sandbox up.
 */
export const HOLDER_FDS = { userData: 4, status: 5, started: 6 } as const;

/** Where user_data lies inside the sandbox (bwrap copies it there from a pipe, into a tmpfs). */
export const USER_DATA_PATH = "/run/teamstack/user-data";

/** The environment of user_data and of every script run in the sandbox (before the caller's additions). */
export function sandboxEnv(
  record: Pick<SandboxRequestFile, "stackId" | "server" | "address">,
  bash: string,
): Record<string, string> {
  return {
    PATH: SANDBOX_PATH,
    HOME: "/root",
    USER: "root",
    LOGNAME: "root",
    SHELL: bash,
    LANG: "C.UTF-8",
    TEAMSTACK_SERVER: record.server,
    TEAMSTACK_IP: record.address,
    TEAMSTACK_STACK_ID: record.stackId,
  };
}

/**
 * Runs a script inside the sandbox, as its last step: `$1` is the script's path inside, or `-`
 * to read it from stdin into the sandbox's tmpfs first; `$2` is `direct` (a `#!` script, run as
 * is) or `bash` (run with `bash -e`); `$3`, when given, is a line to print after it (the end of
 * user_data's output). Output and errors go to stdout; the script's stdin is /dev/null.
 */
const RUNNER = `exec 2>&1
if [ "$1" = - ]; then
  f=/run/teamstack/script.$$
  IFS= read -r -d '' body || true
  (umask 077 && printf '%s' "$body" > "$f") || { echo "teamstack: cannot store the script in /run/teamstack"; exit 125; }
  unset body
  if [ "$2" = direct ]; then chmod 700 "$f" || exit 125; fi
else
  f=$1
fi
cd -- "$HOME" 2>/dev/null || cd /
if [ "$2" = direct ]; then "$f" < /dev/null; else "$0" -e "$f" < /dev/null; fi
rc=$?
[ "$1" = - ] && rm -f -- "$f"
[ -n "\${3-}" ] && printf '%s\\n' "$3"
exit $rc`;

/**
 * The most processes a sandbox's uid may have at once (RLIMIT_NPROC), where the sandbox has a
 * host uid of its own (root mode): a fork bomb stops there instead of filling the machine's
 * process table. Not applied when sandboxes run as the user's own uid, where it would count the
 * user's other processes too.
 */
export const MAX_SANDBOX_PROCESSES = 2048;

/**
 * The shell line every process tree entering a sandbox runs first: the process limit (root mode)
 * and the OOM killer's first preference, so that a server eating the machine's memory is what the
 * kernel kills, never `serve` or another team's work. Children inherit both; raising one's own
 * oom_score_adj and lowering one's own limits need no privilege.
 */
export function sandboxLimits(mode: LocalSupport["mode"]): string {
  const nproc = mode === "root" ? `ulimit -u ${MAX_SANDBOX_PROCESSES} && ` : "";
  return `${nproc}echo 1000 > /proc/self/oom_score_adj`;
}

/**
 * How any process enters the sandbox whose init is `init`: nsenter joins its user, mount, PID, UTS
 * and IPC namespaces and its root, keeping the caller's uid (the sandbox's host uid, uid 0
 * inside), then setpriv empties the capability bounding, inheritable and ambient sets and sets
 * no_new_privs, so what runs is the sandbox's root with no capability at all, as everything else
 * in the sandbox is; bash applies the sandbox's limits, then runs `body` (`$0` is bash). Returns
 * nsenter's arguments up to `body`; the caller appends bash's positional parameters.
 */
export function enterArgs(support: LocalSupport, init: Pick<ProcessIdentity, "pid">, body: string): string[] {
  return [
    "--target",
    String(init.pid),
    "--user",
    "--preserve-credentials",
    "--mount",
    "--pid",
    "--uts",
    "--ipc",
    "--root",
    "--wd",
    "--",
    support.setpriv,
    "--no-new-privs",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--",
    support.bash,
    "-c",
    `${sandboxLimits(support.mode)} || { echo "teamstack: cannot apply the sandbox's limits" >&2; exit 125; }\n${body}`,
    support.bash,
  ];
}

/**
 * The command that runs `script` (a path inside, or `-` for stdin) in the sandbox whose init is
 * `init`, entered as {@link enterArgs} says.
 */
export function enterCommand(
  support: LocalSupport,
  init: ProcessIdentity,
  script: string,
  direct: boolean,
  mark?: string,
): [string, string[]] {
  return [
    support.nsenter,
    [
      ...enterArgs(support, init, RUNNER),
      script,
      direct ? "direct" : "bash",
      ...(mark === undefined ? [] : [mark]),
    ],
  ];
}

/** The uid and gid options of a process that acts as the sandbox (root mode), none otherwise. */
export function asSandbox(
  support: LocalSupport,
  request: Pick<SandboxRequestFile, "uid" | "gid">,
): { uid?: number; gid?: number } {
  return support.mode === "root" ? { uid: request.uid, gid: request.gid } : {};
}

/** user_data's exit code, once it has finished. */
export async function readExitCode(layout: SandboxLayout): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(layout.exitCode, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
  const code = Number.parseInt(text.trim(), 10);
  return Number.isNaN(code) ? undefined : code;
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * user_data's output as kept: the head, then the latest segments. Where a part was dropped to
 * keep the log bounded (or was removed while being read), a marker line says so.
 */
export async function readUserDataOutput(dir: string): Promise<{ text: string; truncated: boolean }> {
  const parts: Buffer[] = [(await readOptional(join(dir, "output.log"))) ?? Buffer.alloc(0)];
  const segments = (await readdir(dir).catch(() => [] as string[]))
    .filter((name) => /^output\.seg\.\d{6}$/.test(name))
    .sort();
  let expected = 1;
  let truncated = false;
  for (const name of segments) {
    const part = await readOptional(join(dir, name));
    const number = Number(name.slice("output.seg.".length));
    // The newest segment may vanish between listing and reading: the writer removes one that
    // stayed empty at the end of the output. That cuts nothing.
    if (!part && name === segments.at(-1)) continue;
    if (!part || number !== expected) {
      if (parts.at(-1) !== GAP) parts.push(GAP);
      truncated = true;
    }
    if (part) parts.push(part);
    expected = number + 1;
  }
  const text = Buffer.concat(parts).toString("utf8");
  return { text, truncated };
}

const GAP = Buffer.from("\n[teamstack] ... output cut here to keep the log bounded ...\n");

/** The last `maxChars` characters of `text`, starting at a line when one starts near the cut. */
export function tailOf(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.slice(text.length - maxChars);
  const newline = cut.indexOf("\n");
  return newline >= 0 && newline < 200 ? cut.slice(newline + 1) : cut;
}

/** What `runInSandbox` needs to know about the sandbox. */
export interface ScriptTarget {
  readonly support: LocalSupport;
  readonly request: Pick<SandboxRequestFile, "uid" | "gid">;
  readonly init: ProcessIdentity;
  readonly env: Readonly<Record<string, string>>;
}

/** Exit code reported for a script killed at its timeout, as GNU `timeout` does. */
export const TIMEOUT_EXIT_CODE = 124;

/** After the script exits, how long to wait for the rest of its output when a background child keeps the pipe open. */
const OUTPUT_GRACE_MS = 100;

/**
 * Runs a script inside the sandbox (see {@link enterCommand}), stdin from /dev/null. The script
 * reaches the sandbox through a pipe, into its tmpfs; it is never written to the state directory.
 *
 * stdout and stderr are captured together up to `maxOutputBytes` (the head is kept; the rest is
 * read and dropped, so the script never blocks on a full pipe). At `timeoutMs` the script's whole
 * process group is killed and the exit code is 124. A script killed by a signal reports 128 + the
 * signal's number. Background processes the script leaves behind keep running in the sandbox.
 */
export async function runInSandbox(
  target: ScriptTarget,
  script: string,
  options: { readonly timeoutMs: number; readonly maxOutputBytes: number },
): Promise<ScriptResult> {
  const [file, args] = enterCommand(target.support, target.init, "-", script.startsWith("#!"));
  return new Promise<ScriptResult>((resolve, reject) => {
    // Its own process group (setsid), so that a timeout kills the script and all it started.
    const child = spawn(file, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...target.env },
      cwd: "/",
      detached: true,
      ...asSandbox(target.support, target.request),
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(script);
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    const collect = (chunk: Buffer): void => {
      const room = options.maxOutputBytes - kept;
      if (chunk.length > room) truncated = true;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, options.timeoutMs);

    let open = 2;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let grace: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (!exit) return;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout.destroy();
      child.stderr.destroy();
      if (timedOut) {
        collect(
          Buffer.from(`\n[teamstack] the script ran longer than ${options.timeoutMs} ms and was killed\n`),
        );
      }
      const code = timedOut
        ? TIMEOUT_EXIT_CODE
        : (exit.code ?? 128 + (exit.signal ? (osConstants.signals[exit.signal] ?? 0) : 0));
      resolve({ exitCode: code, output: decodeHead(Buffer.concat(chunks)), truncated });
    };
    const onClose = (): void => {
      open--;
      if (open === 0) finish();
    };
    child.stdout.on("close", onClose);
    child.stderr.on("close", onClose);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      if (open === 0) finish();
      else grace = setTimeout(finish, OUTPUT_GRACE_MS);
    });
  });
}

/** Decodes kept output; a UTF-8 sequence cut in half at the end is dropped, not turned into U+FFFD. */
function decodeHead(bytes: Buffer): string {
  return new TextDecoder("utf-8").decode(bytes, { stream: true });
}
