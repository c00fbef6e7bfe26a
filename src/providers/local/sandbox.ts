import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import type { ScriptResult, ServerArtifacts } from "../../ports/provider.ts";
import { isErrno } from "../../shared/state-files.ts";
import type { ProcessIdentity } from "./proc.ts";
import type { LocalSupport } from "./support.ts";

/**
 * A sandbox on disk. Under `<stateDir>/sandboxes/<stackId>/<server>/`:
 *
 * | file | written by | holds |
 * |---|---|---|
 * | `request.json` | creator, first | token, id, address, type, creation time |
 * | `holder.sh` | creator | the holder script this sandbox runs |
 * | `io/` | creator | user_data and runScript scripts; /run/teamstack inside the sandbox |
 * | `holder.json` | holder, first thing | host PID and start time of the holder and of `unshare` |
 * | `holder.log` | holder | setup notes and errors |
 * | `fs/<dir>/{upper,work}` | holder | overlayfs layers of /etc, /home, ... (`fs/<dir>/copy` without overlayfs) |
 * | `fs/tmp` | holder | the sandbox's /tmp |
 * | `output.log`, `output.seg.NNNNNN` | holder | user_data's output, bounded: the head, then the latest segments |
 * | `exit-code` | holder | user_data's exit code, once it has finished |
 * | `sandbox.json` | creator, last | the finished sandbox: artifacts and holder; its presence means "complete" |
 *
 * A directory without `sandbox.json` is half-made (its creator died) and is removed before the
 * server is made again. The lock `<stateDir>/sandboxes/<stackId>/.<server>.lock` serialises
 * create and destroy of one server across processes.
 */
export interface SandboxLayout {
  readonly stackDir: string;
  readonly dir: string;
  readonly lock: string;
  readonly request: string;
  readonly record: string;
  readonly holderScript: string;
  readonly holder: string;
  readonly holderLog: string;
  readonly io: string;
  readonly userData: string;
  readonly exitCode: string;
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
    holderScript: join(dir, "holder.sh"),
    holder: join(dir, "holder.json"),
    holderLog: join(dir, "holder.log"),
    io: join(dir, "io"),
    userData: join(dir, "io", "user-data"),
    exitCode: join(dir, "exit-code"),
  };
}

/** What the creator records before it starts the holder. */
export interface SandboxRequestFile {
  readonly stackId: string;
  readonly server: string;
  readonly token: string;
  readonly id: string;
  readonly address: string;
  readonly type: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** The line the holder writes to the log when user_data exits (readers remove it). */
  readonly outputMark: string;
}

/** What the holder records about itself, first thing. */
export interface HolderInfo extends ProcessIdentity {
  /** The `unshare` process that started the holder (its parent, outside the sandbox). */
  readonly launcherPid: number;
  readonly launcherStartTime: string;
  /** `pid:[inode]`: every process of the sandbox is in this PID namespace. */
  readonly pidNamespace: string;
}

/** A complete sandbox. */
export interface SandboxRecord extends SandboxRequestFile {
  readonly mode: LocalSupport["mode"];
  readonly holder: HolderInfo;
  readonly artifacts: ServerArtifacts;
}

/** The environment of user_data and of every script run in the sandbox (before the caller's additions). */
export function sandboxEnv(
  record: Pick<SandboxRequestFile, "stackId" | "server" | "address">,
  mode: LocalSupport["mode"],
  bash: string,
  path: string,
  userHome: string,
): Record<string, string> {
  return {
    PATH: path,
    // In a user namespace the host's /root is not readable: the user's own home (under the
    // sandbox's /home or shared) is.
    HOME: mode === "root" ? "/root" : userHome,
    USER: "root",
    LOGNAME: "root",
    SHELL: bash,
    LANG: "C.UTF-8",
    TEAMSTACK_SERVER: record.server,
    TEAMSTACK_IP: record.address,
    TEAMSTACK_STACK_ID: record.stackId,
  };
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
export async function readUserDataOutput(
  dir: string,
  outputMark: string,
): Promise<{ text: string; truncated: boolean }> {
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
  const text = Buffer.concat(parts).toString("utf8").replace(`${outputMark}\n`, "");
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
  readonly nsenter: string;
  readonly bash: string;
  readonly mode: LocalSupport["mode"];
  readonly holder: ProcessIdentity;
  readonly ioDir: string;
  readonly env: Readonly<Record<string, string>>;
}

/** Exit code reported for a script killed at its timeout, as GNU `timeout` does. */
export const TIMEOUT_EXIT_CODE = 124;

/** After the script exits, how long to wait for the rest of its output when a background child keeps the pipe open. */
const OUTPUT_GRACE_MS = 100;

/**
 * Runs a script inside the sandbox's namespaces (nsenter into the holder's), stdin from /dev/null.
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
  const name = `script-${Date.now()}-${randomBytes(4).toString("hex")}`;
  const hostPath = join(target.ioDir, name);
  const inside = `/run/teamstack/${name}`;
  const direct = script.startsWith("#!");
  await writeFile(hostPath, script, { mode: direct ? 0o755 : 0o644 });
  try {
    const command = direct ? [inside] : [target.bash, "-e", inside];
    const args = [
      "--target",
      String(target.holder.pid),
      "--mount",
      "--uts",
      "--ipc",
      "--pid",
      ...(target.mode === "userns" ? ["--user", "--preserve-credentials"] : []),
      "--",
      target.bash,
      "-c",
      'cd -- "$HOME" 2>/dev/null || cd /; exec "$@" 2>&1',
      "teamstack-script",
      ...command,
    ];
    return await new Promise<ScriptResult>((resolve, reject) => {
      // Its own process group (setsid), so that a timeout kills the script and all it started.
      const child = spawn(target.nsenter, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...target.env },
        detached: true,
      });
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
  } finally {
    await rm(hostPath, { force: true });
  }
}

/** Decodes kept output; a UTF-8 sequence cut in half at the end is dropped, not turned into U+FFFD. */
function decodeHead(bytes: Buffer): string {
  return new TextDecoder("utf-8").decode(bytes, { stream: true });
}
