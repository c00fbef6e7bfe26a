// The sandbox holder: a small Node process outside the sandbox, one per sandbox.
//
// The creator starts it detached (its own session), with the sandbox directory as its working
// directory and its stderr on `holder.log`, and sends its HolderConfig (with user_data and the
// stack's secret values) on stdin: never in argv or the environment, which /proc shows. It:
//  1. records its own identity in `holder.json`, so that a destroy can kill it even mid-setup;
//  2. starts bwrap (as the sandbox's own uid in root mode), hands it user_data through a pipe
//     (bwrap copies it into the sandbox's tmpfs) and learns the sandbox's init from bwrap's
//     status fd; bwrap runs with --die-with-parent, so killing the holder ends the sandbox;
//  3. forbids user namespaces inside the sandbox (user.max_user_namespaces=0 in its namespace);
//  4. records `holder.json` in full and prints `ready` (the creator's handshake);
//  5. runs user_data inside the sandbox as its own child, so that it learns the exit code from
//     the kernel (nothing in the sandbox can write it), masks the output and writes it to a
//     bounded log, and records `exit-code` once the output is complete;
//     (a start after a stop skips this: user_data ran once, when the sandbox was made);
//  6. stays until it is killed, reading what user_data's background processes still print, and
//     exits when the sandbox ends.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { constants as osConstants } from "node:os";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createStreamMasker, type StreamMasker } from "../../core/mask.ts";
import { AttemptFileWriter } from "../../local/server-logs.ts";
import {
  asSandbox,
  enterCommand,
  HOLDER_FDS,
  type HolderConfig,
  type HolderInfo,
  sandboxLimits,
  USER_DATA_PATH,
} from "./sandbox.ts";
import { SANDBOX_PATH } from "./support.ts";

/** When user_data's end-of-output line never comes (its runner was killed), how long to wait for the rest after its exit. */
const OUTPUT_SETTLE_MS = 2000;

function fail(message: string): never {
  process.stderr.write(`teamstack: ${message}\n`);
  process.exit(91);
}

function note(message: string): void {
  process.stderr.write(`teamstack: ${message}\n`);
}

function writePrivate(name: string, content: string): void {
  const tmp = `${name}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, name);
}

function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The first `headBytes` of the output in `output.log`, then numbered segments of `segmentBytes`
 * (`output.seg.000001`, ...), of which only the latest full one and the one being written are
 * kept. Files are never renamed, so a reader never misses the newest one.
 */
class BoundedLog {
  #fd: number;
  #left: number;
  #segment = 0;
  readonly #segmentBytes: number;

  constructor(headBytes: number, segmentBytes: number) {
    this.#fd = openSync("output.log", "w", 0o600);
    this.#left = headBytes;
    this.#segmentBytes = segmentBytes;
  }

  write(text: string): void {
    let bytes = Buffer.from(text, "utf8");
    while (bytes.length > 0) {
      if (this.#left === 0) this.#nextSegment();
      const n = Math.min(this.#left, bytes.length);
      writeSync(this.#fd, bytes, 0, n);
      this.#left -= n;
      bytes = bytes.subarray(n);
    }
  }

  #nextSegment(): void {
    closeSync(this.#fd);
    this.#segment++;
    this.#fd = openSync(segmentName(this.#segment), "w", 0o600);
    this.#left = this.#segmentBytes;
    if (this.#segment > 2) {
      try {
        unlinkSync(segmentName(this.#segment - 2));
      } catch {
        // already gone
      }
    }
  }
}

function segmentName(n: number): string {
  return `output.seg.${String(n).padStart(6, "0")}`;
}

/** Starts bwrap: as the sandbox's uid in root mode, after binding its files where that uid can reach them. */
function startBwrap(config: HolderConfig): ChildProcess {
  const { support, request } = config;
  const env = { PATH: SANDBOX_PATH };
  const limits = sandboxLimits(support.mode);
  if (support.mode === "user") {
    return spawn(
      support.bash,
      ["-c", `${limits} && exec "$@"`, "teamstack-sandbox", support.bwrap, ...config.bwrapArgs],
      {
        cwd: "/",
        env,
        stdio: ["ignore", "ignore", "inherit", "ignore", "pipe", "pipe", "pipe"],
      },
    );
  }
  // The state directory is 0700 and the sandbox's uid must not enter it: in a mount namespace of
  // its own (gone with this process), the holder binds the sandbox's root/ over /tmp, and only
  // then becomes the sandbox's uid and runs bwrap, whose sources lie under /tmp. (The path, not
  // an fd: a bind's source must belong to the mount namespace it is made in.)
  return spawn(
    support.unshare,
    [
      "--mount",
      "--propagation",
      "private",
      "--",
      support.bash,
      "-c",
      `${limits} && ${support.mount} --bind -- "$1" /tmp && shift && exec "$@"`,
      "teamstack-sandbox",
      `${process.cwd()}/root`,
      support.setpriv,
      `--reuid=${request.uid}`,
      `--regid=${request.gid}`,
      "--clear-groups",
      "--",
      support.bwrap,
      ...config.bwrapArgs,
    ],
    { cwd: "/", env, stdio: ["ignore", "ignore", "inherit", "ignore", "pipe", "pipe", "pipe"] },
  );
}

/** Waits for bwrap's first status document, which names the sandbox's init (its host PID). */
function sandboxInit(bwrap: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const status = (bwrap.stdio as readonly unknown[])[HOLDER_FDS.status] as Readable | undefined;
    let text = "";
    let found = false;
    const onData = (chunk: Buffer): void => {
      if (found) return;
      text += chunk.toString("utf8");
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m?.[1]) {
        found = true;
        bwrap.off("exit", onExit);
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      reject(new Error(`bwrap exited (${code ?? signal}) before the sandbox started`));
    status?.on("data", onData);
    bwrap.once("exit", onExit);
  });
}

/** Waits for the line the sandbox's init writes once bwrap has set the sandbox up and run it. */
function sandboxStarted(bwrap: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = (bwrap.stdio as readonly unknown[])[HOLDER_FDS.started] as Readable | undefined;
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("utf8");
      if (text.includes("started\n")) {
        started?.off("data", onData);
        bwrap.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      reject(new Error(`bwrap exited (${code ?? signal}) while setting the sandbox up`));
    started?.on("data", onData);
    bwrap.once("exit", onExit);
  });
}

/** Runs `command` to its end; resolves with its exit code and what it printed. */
function runToEnd(file: string, args: string[], options: { uid?: number; gid?: number }) {
  return new Promise<{ code: number; output: string }>((resolve) => {
    const child = spawn(file, args, { cwd: "/", env: { PATH: SANDBOX_PATH }, ...options });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", (err) => resolve({ code: 1, output: err.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, output: output.trim() }));
  });
}

/**
 * Masks user_data's output and writes it to the bounded log, removing the line its runner prints
 * when user_data exits (`mark`): calls `onMark` once that line has been written, with everything
 * before it in the log.
 */
function outputWriter(
  config: HolderConfig,
  mark: string,
  onMark: () => void,
  attempt: AttemptFileWriter | undefined,
) {
  const bounded = new BoundedLog(config.logHeadBytes, config.logSegmentBytes);
  // The attempt's log (the ServerLogs port) takes the same masked text, up to the mark: what
  // background processes print later belongs to no attempt.
  const log = {
    write(text: string): void {
      bounded.write(text);
      if (!marked) attempt?.write(text);
    },
  };
  let masker: StreamMasker = createStreamMasker(config.secrets);
  const line = `${mark}\n`;
  let pending = "";
  let marked = false;
  return {
    push(text: string): void {
      if (marked) {
        log.write(masker.push(text));
        return;
      }
      pending += text;
      const at = pending.indexOf(line);
      if (at >= 0) {
        log.write(masker.push(pending.slice(0, at)));
        log.write(masker.end());
        masker = createStreamMasker(config.secrets);
        const rest = pending.slice(at + line.length);
        pending = "";
        marked = true;
        onMark();
        if (rest !== "") log.write(masker.push(rest));
        return;
      }
      // Keep back only what could be the start of the mark line (a reader following the log
      // sees the rest at once).
      let keep = Math.min(pending.length, line.length - 1);
      while (keep > 0 && !line.startsWith(pending.slice(pending.length - keep))) keep--;
      log.write(masker.push(pending.slice(0, pending.length - keep)));
      pending = pending.slice(pending.length - keep);
    },
    end(): void {
      log.write(masker.push(pending));
      pending = "";
      log.write(masker.end());
    },
  };
}

async function main(): Promise<void> {
  process.stdout.on("error", () => undefined);
  const self = { pid: process.pid, startTime: startTimeOf(process.pid) };
  // A destroy that comes mid-setup finds the holder through this and kills it.
  writePrivate("holder.json", `${JSON.stringify(self)}\n`);
  const config = JSON.parse(await readStdin()) as HolderConfig;
  const { support, request } = config;

  const bwrap = startBwrap(config);
  bwrap.on("error", (err) => fail(`cannot start bwrap: ${err.message}`));
  const input = bwrap.stdio[HOLDER_FDS.userData];
  if (!input || !("end" in input)) fail("bwrap has no user_data pipe");
  input.on("error", () => undefined);
  input.end(config.userData);
  const initPid = await sandboxInit(bwrap).catch((err: Error) => fail(err.message));
  await sandboxStarted(bwrap).catch((err: Error) => fail(err.message));
  const bwrapPid = bwrap.pid ?? fail("bwrap has no process id");
  const info: HolderInfo = {
    ...self,
    bwrap: { pid: bwrapPid, startTime: startTimeOf(bwrapPid) },
    init: { pid: initPid, startTime: startTimeOf(initPid) },
    pidNamespace: readlinkSync(`/proc/${initPid}/ns/pid`),
  };
  // From here on, the sandbox's end is the holder's.
  bwrap.on("exit", () => process.exit(0));

  // Capabilities inside the sandbox are dropped, but a new user namespace would give them back
  // (in that namespace): forbid new ones. Only the sandbox's owner, entering from outside, can.
  const limit = await runToEnd(
    support.nsenter,
    [
      "--target",
      String(initPid),
      "--user",
      "--preserve-credentials",
      "--",
      support.bash,
      "-c",
      "echo 0 > /proc/sys/user/max_user_namespaces",
    ],
    asSandbox(support, request),
  );
  if (limit.code !== 0) {
    note(`user namespaces stay possible inside the sandbox: ${limit.output || `exit code ${limit.code}`}`);
  }

  // A holder that outlived its creator's crash must not run user_data in a directory since removed.
  try {
    readFileSync("request.json");
  } catch {
    fail("the sandbox directory was removed while the sandbox was being set up");
  }
  writePrivate("holder.json", `${JSON.stringify(info)}\n`);
  process.stdout.write("ready\n");
  // A start after a stop: user_data ran when the sandbox was made; its output and exit code stay.
  if (config.restart) return;

  const mark = `[teamstack] user_data exited ${randomBytes(16).toString("hex")}`;
  let exitCode: number | undefined;
  let marked = false;
  let closed = 0;
  let recorded = false;
  let waited = false;
  let settle: NodeJS.Timeout | undefined;
  const record = (): void => {
    if (recorded || exitCode === undefined) return;
    if (!marked && closed < 2 && !waited) return;
    recorded = true;
    clearTimeout(settle);
    attempt?.end(exitCode);
    writePrivate("exit-code", `${exitCode}\n`);
  };
  // Already masked by outputWriter: the attempt's writer only bounds.
  const attempt = config.attemptLog
    ? new AttemptFileWriter(config.attemptLog.files, config.attemptLog.meta, [], self)
    : undefined;
  const writer = outputWriter(
    config,
    mark,
    () => {
      marked = true;
      record();
    },
    attempt,
  );
  const [file, args] = enterCommand(
    support,
    info.init,
    USER_DATA_PATH,
    config.userData.startsWith("#!"),
    mark,
  );
  const ud = spawn(file, args, {
    cwd: "/",
    env: { ...config.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    ...asSandbox(support, request),
  });
  for (const stream of [ud.stdout, ud.stderr]) {
    const decoder = new StringDecoder("utf8");
    stream.on("data", (chunk: Buffer) => writer.push(decoder.write(chunk)));
    stream.on("close", () => {
      writer.push(decoder.end());
      closed++;
      if (closed === 2) writer.end();
      record();
    });
  }
  ud.on("error", (err) => {
    note(`cannot run user_data: ${err.message}`);
    exitCode = 127;
    waited = true;
    record();
  });
  ud.on("exit", (code, signal) => {
    exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
    // Background processes may keep the output pipe open for ever: the mark line says when
    // user_data's own output is complete; without it (its runner was killed), wait a little.
    settle = setTimeout(() => {
      waited = true;
      record();
    }, OUTPUT_SETTLE_MS);
    record();
  });
}

await main();
