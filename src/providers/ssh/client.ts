import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findExecutable } from "../../shared/find-executable.ts";
import { SshConnectionError, SshHostError, SshHostKeyError } from "./errors.ts";
import { fingerprint, hostKeyAlgorithms, type SshHost, shellWord } from "./hosts.ts";

/**
 * The system's OpenSSH client, as the ssh provider uses it (see README.md beside it): each private
 * key is loaded into an ssh-agent of this process (`ssh-add -` from stdin: never a file), whose
 * socket is in a private (0700) directory; each host's pinned key is the only line of a
 * known_hosts file there, checked strictly; the user's own ssh configuration, keys and agent are
 * not used. Agents end with this process: on exit, or within 10 s of it being killed (an agent
 * started with a command ends when that command, here a `cat` of a pipe from this process, ends).
 */

/** The OpenSSH programs, found on PATH. */
export interface SshTools {
  readonly ssh: string;
  readonly sshAgent: string;
  readonly sshAdd: string;
  readonly sshKeyscan: string;
}

const INSTALL =
  "install the OpenSSH client (Debian and Ubuntu: apt-get install openssh-client; Fedora: dnf install openssh-clients; macOS has it)";

/**
 * The OpenSSH programs on `searchPath`.
 * @throws SshConnectionError naming what is missing and how to install it.
 */
export async function findSshTools(searchPath: string | undefined = process.env.PATH): Promise<SshTools> {
  const find = (name: string) => findExecutable(name, searchPath);
  const names = ["ssh", "ssh-agent", "ssh-add", "ssh-keyscan"] as const;
  const found = await Promise.all(names.map(find));
  const missing = names.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) {
    throw new SshConnectionError(
      `the ssh provider uses the system's OpenSSH client, and ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not on PATH: ${INSTALL}`,
    );
  }
  const [ssh, sshAgent, sshAdd, sshKeyscan] = found as [string, string, string, string];
  return { ssh, sshAgent, sshAdd, sshKeyscan };
}

/** How one ssh command ended. */
export interface SshResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SshRunOptions {
  /** Written to the remote command's stdin, which is then closed. */
  readonly input?: string;
  /** Sees stdout as it comes (then `stdout` of the result stays empty). */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Sees stderr lines as they come (markers). */
  readonly onStderrLine?: (line: string, child: ChildProcess) => void;
  readonly signal?: AbortSignal;
  /** Kills the ssh client after this long. */
  readonly timeoutMs?: number;
  /** Allocate a terminal (`-t`). */
  readonly tty?: boolean;
}

/** How long ssh waits for the TCP connection and the handshake. */
const CONNECT_TIMEOUT_S = 20;
/**
 * How long a master connection stays after its last session: short, as it outlives this process
 * by that much (its socket is removed with the private directory, so nothing else can use it).
 */
const CONTROL_PERSIST_S = 10;
/** The most of stderr kept (ssh's own messages and the scripts' markers). */
const STDERR_KEEP = 64 * 1024;

/** An ssh-agent of this process, holding one key. */
interface Agent {
  readonly socket: string;
  readonly pid: number;
  readonly keeper: ChildProcess;
}

/** The ssh client with this process's agents and known_hosts files. */
export class SshClient {
  readonly #tools: Promise<SshTools>;
  #dir: string | undefined;
  readonly #agents = new Map<string, Promise<Agent>>();
  readonly #started = new Set<Agent>();
  #count = 0;
  readonly #onExit = (): void => this.closeSync();

  constructor(tools?: SshTools) {
    this.#tools = tools ? Promise.resolve(tools) : findSshTools();
    // Unhandled here; each call awaits it and reports the missing tool.
    this.#tools.catch(() => undefined);
  }

  get tools(): Promise<SshTools> {
    return this.#tools;
  }

  /** The private directory of this client's agent sockets and known_hosts files, made on first use. */
  #privateDir(): string {
    if (!this.#dir) {
      this.#dir = privateDir();
      process.once("exit", this.#onExit);
    }
    return this.#dir;
  }

  /**
   * The ssh arguments that reach `host` with its key (in an agent) and only its pinned host key,
   * ignoring the user's own configuration, keys and agent.
   */
  async args(
    host: SshHost,
    agentSocket: string,
    knownHosts: string,
    alias: string,
    tty: boolean,
    control?: string,
  ): Promise<string[]> {
    return [
      "-F",
      "/dev/null",
      tty ? "-t" : "-T",
      "-o",
      "BatchMode=yes",
      "-o",
      `IdentityAgent=${agentSocket}`,
      "-o",
      "IdentityFile=none",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      `HostKeyAlias=${alias}`,
      "-o",
      `HostKeyAlgorithms=${hostKeyAlgorithms(host.hostKey.type)}`,
      "-o",
      "UpdateHostKeys=no",
      "-o",
      "CheckHostIP=no",
      "-o",
      `ConnectTimeout=${CONNECT_TIMEOUT_S}`,
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=4",
      ...(control
        ? [
            "-o",
            "ControlMaster=auto",
            "-o",
            `ControlPath=${control}`,
            "-o",
            `ControlPersist=${CONTROL_PERSIST_S}`,
          ]
        : ["-o", "ControlMaster=no", "-o", "ControlPath=none"]),
      "-o",
      "ForwardAgent=no",
      "-o",
      "ForwardX11=no",
      "-o",
      "ClearAllForwardings=yes",
      "-o",
      "LogLevel=ERROR",
      "-p",
      String(host.port),
      "-l",
      host.user,
      "--",
      host.address,
    ];
  }

  /**
   * The socket of the master connection to `host` that this process's sessions share (OpenSSH's
   * ControlMaster): one TCP connection and handshake per host, key and user instead of one per
   * command. Named by everything that makes the connection, so two registrations of one address
   * never share one.
   */
  #controlPath(host: SshHost): string {
    const id = fingerprintOfSecret(
      [host.name, host.address, host.port, host.user, host.hostKey.blob, host.privateKey].join("\0"),
    );
    return join(this.#privateDir(), `cm-${id.slice(7, 23).replace(/[^A-Za-z0-9]/g, "x")}`);
  }

  /** The known_hosts file holding only `host`'s pinned key, under the alias ssh checks it as. */
  knownHosts(host: SshHost, dir = this.#privateDir()): { file: string; alias: string } {
    const alias = `teamstack-${fingerprint(host.hostKey.blob)
      .slice(7, 19)
      .replace(/[^A-Za-z0-9]/g, "x")}-${host.port}`;
    const file = join(dir, `known_hosts.${alias}`);
    writeFileSync(file, `${alias} ${host.hostKey.type} ${host.hostKey.blob}\n`, { mode: 0o600 });
    return { file, alias };
  }

  /** The socket of an agent of this process holding `host`'s key (started and loaded on first use). */
  agentFor(host: SshHost): Promise<string> {
    const key = fingerprintOfSecret(host.privateKey);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = this.#startAgent(host, this.#privateDir(), `agent.${++this.#count}`);
      agent.then(
        (a) => this.#started.add(a),
        () => undefined,
      );
      this.#agents.set(key, agent);
      agent.catch(() => this.#agents.delete(key));
    }
    return agent.then((a) => a.socket);
  }

  /**
   * Starts an ssh-agent on `dir/name` and loads `host`'s key into it from stdin. The agent's
   * command is a `cat` reading a pipe from this process: when this process ends, however it ends,
   * the pipe closes, `cat` exits, and the agent, which checks on its command every 10 s, exits.
   */
  async #startAgent(host: SshHost, dir: string, name: string): Promise<Agent> {
    const tools = await this.#tools;
    const socket = join(dir, name);
    const keeper = spawn(
      tools.sshAgent,
      ["-a", socket, "/bin/sh", "-c", 'echo "$SSH_AGENT_PID"; exec cat >/dev/null'],
      {
        stdio: ["pipe", "pipe", "pipe"],
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        detached: true,
      },
    );
    keeper.stdin?.on("error", () => undefined);
    const pid = await new Promise<number>((resolve, reject) => {
      let out = "";
      let err = "";
      keeper.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        const line = /^(\d+)\n/.exec(out);
        if (line) resolve(Number(line[1]));
      });
      keeper.stderr?.on("data", (chunk: Buffer) => {
        err += chunk.toString("utf8");
      });
      keeper.once("error", (e) =>
        reject(new SshConnectionError(`cannot start ssh-agent: ${e.message}`, { cause: e })),
      );
      keeper.once("exit", (code) =>
        reject(new SshConnectionError(`ssh-agent exited (${code}) before it was ready: ${err.trim()}`)),
      );
    });
    keeper.stdout?.destroy();
    keeper.stderr?.destroy();
    keeper.removeAllListeners("exit");
    keeper.unref();
    (keeper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    const agent: Agent = { socket, pid, keeper };
    try {
      await this.#addKey(tools, socket, host);
    } catch (err) {
      stopAgent(agent);
      throw err;
    }
    return agent;
  }

  async #addKey(tools: SshTools, socket: string, host: SshHost): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      // Detached (no terminal) and no askpass: a key with a passphrase fails instead of prompting.
      const child = execFile(
        tools.sshAdd,
        ["-q", "-"],
        {
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            SSH_AUTH_SOCK: socket,
            SSH_ASKPASS_REQUIRE: "never",
          },
          timeout: 30_000,
        },
        (err, _stdout, stderr) => {
          if (!err) return resolve();
          const said = String(stderr)
            .replace(/\(stdin\)/g, "the key")
            .trim();
          reject(
            new SshHostError(
              `the private key of ssh host \`${host.name}\` cannot be loaded (${said || err.message}); register an unencrypted OpenSSH or PEM private key (ssh-keygen -t ed25519 -N '')`,
            ),
          );
        },
      );
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(host.privateKey);
    });
  }

  /**
   * Runs `script` (a POSIX sh script) on `host` with `args`, as `/bin/sh -c SCRIPT NAME ARGS`.
   * @throws SshHostKeyError when the host presents another key than the pinned one;
   *   SshConnectionError when no session could be made.
   */
  async run(
    host: SshHost,
    name: string,
    script: string,
    args: readonly string[],
    options: SshRunOptions = {},
  ): Promise<SshResult> {
    const command = ["/bin/sh", "-c", script, name, ...args].map(shellWord).join(" ");
    const tools = await this.#tools;
    const socket = await this.agentFor(host);
    const known = this.knownHosts(host);
    const sshArgs = [
      ...(await this.args(
        host,
        socket,
        known.file,
        known.alias,
        options.tty === true,
        this.#controlPath(host),
      )),
      command,
    ];
    const result = await spawnSsh(tools.ssh, sshArgs, options);
    if (result.code === 255 && !/^teamstack-/m.test(result.stderr)) {
      throw await this.failure(host, result.stderr);
    }
    return result;
  }

  /** The error for an ssh that could not make its session: a host key mismatch, or why it failed. */
  async failure(host: SshHost, stderr: string): Promise<Error> {
    const where = `ssh host \`${host.name}\` (${host.user}@${host.address}:${host.port})`;
    const expected = fingerprint(host.hostKey.blob);
    const keyProblem =
      /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|no matching host key type found|host key is known for/i.test(
        stderr,
      );
    if (keyProblem) {
      let received =
        /The fingerprint for the \S+ key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)/.exec(
          stderr,
        )?.[1];
      if (!received) received = await this.scan(host).catch(() => undefined);
      const type = host.hostKey.type;
      return new SshHostKeyError(
        received
          ? `${where} presented the host key ${received}, not the pinned ${expected} (${type}): the connection was refused. If the host's key was changed on purpose, register the new one (ssh-keyscan -t ${type.replace(/^ssh-|-sha2-nistp\d+$/g, "").replace(/^ecdsa.*/, "ecdsa")} -p ${host.port} ${host.address}); otherwise someone may be in the middle`
          : `${where} offered no ${type} host key matching the pinned ${expected}: the connection was refused. Register the host key it has (ssh-keyscan -p ${host.port} ${host.address})`,
        expected,
        received,
      );
    }
    const said = stderr
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "")
      .slice(-3)
      .join("; ");
    return new SshConnectionError(
      `cannot open an SSH session to ${where}: ${said || "ssh failed without saying why"}`,
    );
  }

  /** The fingerprint of the host key of the pinned type that `host` presents now (ssh-keyscan). */
  async scan(host: SshHost): Promise<string | undefined> {
    const tools = await this.#tools;
    const out = await new Promise<string>((resolve) => {
      execFile(
        tools.sshKeyscan,
        [
          "-T",
          "10",
          "-p",
          String(host.port),
          "-t",
          host.hostKey.type === "ssh-rsa" ? "rsa" : host.hostKey.type,
          host.address,
        ],
        { timeout: 20_000 },
        (_err, stdout) => resolve(String(stdout)),
      );
    });
    const line = out.split("\n").find((l) => !l.startsWith("#") && l.split(" ")[1] === host.hostKey.type);
    const blob = line?.split(" ")[2];
    return blob ? fingerprint(blob) : undefined;
  }

  /**
   * A private directory with its own agent holding `host`'s key and its known_hosts file, for a
   * command run with the caller's terminal; `stop` ends the agent and removes the directory.
   */
  async dedicated(host: SshHost): Promise<{ args: (tty: boolean) => Promise<string[]>; stop: () => void }> {
    const dir = privateDir();
    let agent: Agent | undefined;
    const stop = (): void => {
      if (agent) stopAgent(agent);
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      agent = await this.#startAgent(host, dir, "agent");
      const known = this.knownHosts(host, dir);
      const socket = agent.socket;
      return { args: (tty) => this.args(host, socket, known.file, known.alias, tty), stop };
    } catch (err) {
      stop();
      throw err;
    }
  }

  /** Ends this client's agents and removes its directory (also done when the process exits). */
  closeSync(): void {
    process.off("exit", this.#onExit);
    for (const agent of this.#started) stopAgent(agent);
    this.#started.clear();
    this.#agents.clear();
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}

const PRIVATE_DIR = /^teamstack-ssh-(\d+)-/;

/**
 * A new private (0700) directory for agent sockets and known_hosts files, named with this
 * process's pid; those of processes that are gone (killed before their exit handler ran: their
 * agents have ended and removed their sockets) are removed first.
 */
function privateDir(): string {
  const base = tmpdir();
  try {
    for (const name of readdirSync(base)) {
      const pid = Number(PRIVATE_DIR.exec(name)?.[1]);
      if (!pid || pid === process.pid || isRunning(pid)) continue;
      rmSync(join(base, name), { recursive: true, force: true });
    }
  } catch {
    // best effort: a leftover holds no secret
  }
  return mkdtempSync(join(base, `teamstack-ssh-${process.pid}-`));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function stopAgent(agent: Agent): void {
  try {
    process.kill(agent.pid, "SIGTERM");
  } catch {
    // gone already
  }
  agent.keeper.stdin?.destroy();
}

/** A short, non-reversible name for a secret, to key a cache by. */
function fingerprintOfSecret(secret: string): string {
  return fingerprint(Buffer.from(secret, "utf8").toString("base64"));
}

/** Runs ssh with `args` and collects what it prints. */
function spawnSsh(file: string, args: readonly string[], options: SshRunOptions): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      // No terminal: nothing can prompt.
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      if (options.onStdout) options.onStdout(chunk);
      else stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      if (stderr.length < STDERR_KEEP) stderr += text;
      if (options.onStderrLine) {
        partial += text;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) options.onStderrLine(line, child);
      }
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    const kill = (): void => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
    };
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(kill, options.timeoutMs);
    const onAbort = (): void => kill();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(new SshConnectionError(`cannot run ${file}: ${err.message}`, { cause: err }));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (partial !== "" && options.onStderrLine) options.onStderrLine(partial, child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
