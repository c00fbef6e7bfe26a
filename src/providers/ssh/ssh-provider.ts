import { randomBytes } from "node:crypto";
import type {
  CreateServerRequest,
  Provider,
  ProviderCredentials,
  ReadyResult,
  ScriptOptions,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
  ShellCommand,
} from "../../ports/provider.ts";
import type { LogKey, LogWriter, ServerLogs } from "../../ports/server-logs.ts";
import { KeyedMutex } from "../../shared/state-files.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { checkServerNames, isSafeName, serverGone } from "../server-names.ts";
import { SshClient, type SshTools } from "./client.ts";
import { sshDeclaration } from "./declaration.ts";
import { SshConnectionError, SshError, SshHostError, SshHostKeyError } from "./errors.ts";
import {
  attemptDir,
  interpreterOf,
  parseHost,
  parseServerId,
  pickHost,
  type SshHost,
  serverId,
  serverPrefix,
  shellWord,
} from "./hosts.ts";
import { CREATE, DEFAULT_INTERPRETER, DESTROY, FOLLOW, RUN, SHELL } from "./remote.ts";

export interface SshProviderOptions {
  /** Where the teams' registered hosts are. */
  readonly credentials: ProviderCredentials;
  /** Where user_data's output is kept, attempt by attempt. */
  readonly logs?: ServerLogs;
  /** The OpenSSH programs (default: found on PATH). */
  readonly tools?: SshTools;
}

const PROVIDER = sshDeclaration.name;
/** How many characters of user_data's output a failed ReadyResult carries. */
const READY_OUTPUT_CHARS = 4096;
/** How often waitUntilReady opens its session again after a broken connection, before it gives up. */
const FOLLOW_RETRIES = 3;
/** After a script exits, how long to wait for the rest of its output when a background child keeps the channel open. */
const OUTPUT_GRACE_MS = 200;
/** Exit code reported for a script killed at its timeout, as GNU `timeout` does. */
const TIMEOUT_EXIT_CODE = 124;

/** Where a server is: its host (with its fields) and its directory there. */
interface Place {
  readonly host: SshHost;
  readonly dir: string;
  readonly id: string;
}

/** What create hands to the waitUntilReady of the same process: where user_data's output goes. */
interface Streaming {
  readonly key: LogKey;
  readonly secrets: readonly string[];
  /** Open for a create that started user_data; absent for one that found it running (a restart). */
  writer?: LogWriter | undefined;
}

class SshProvider implements Provider {
  readonly name = PROVIDER;
  readonly #credentials: ProviderCredentials;
  readonly #logs: ServerLogs | undefined;
  readonly #client: SshClient;
  readonly #mutex = new KeyedMutex();
  readonly #streams = new Map<string, Streaming>();
  readonly #follows = new Map<string, Promise<ReadyResult>>();

  constructor(opts: SshProviderOptions) {
    this.#credentials = opts.credentials;
    this.#logs = opts.logs;
    this.#client = new SshClient(opts.tools);
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    checkServerNames(PROVIDER, request.stackId, request.server);
    const hostName = await this.#placement(request.team, request.stackId, request.server, request.options);
    const host = await this.#host(request.team, hostName);
    const dir = attemptDir(request.team, request.stackId, request.server, request.idempotencyToken);
    const id = serverId(host.name, dir);
    const artifacts: ServerArtifacts = {
      Id: id,
      IP: host.address,
      PrivateIP: host.address,
      PublicIP: host.address,
      Hostname: host.address,
      Provider: PROVIDER,
      Type: request.type,
      Region: host.name,
    };
    return this.#mutex.run(id, async () => {
      const trailer = `\n#teamstack-end-${randomBytes(12).toString("hex")}\n`;
      const env = serverEnv(dir, request.stackId, request.server, host.address);
      const result = await this.#client.run(
        host,
        "teamstack-create",
        CREATE,
        [
          host.root,
          dir,
          serverPrefix(request.team, request.stackId, request.server),
          request.idempotencyToken,
          request.team,
          request.stackId,
          request.server,
          trailer,
          ...env,
          ...interpreter(request.userData),
        ],
        { input: request.userData + trailer, timeoutMs: 120_000 },
      );
      const started = /^teamstack-started$/m.test(result.stdout);
      if (!started && !/^teamstack-exists$/m.test(result.stdout)) {
        throw new SshError(
          `cannot create server \`${request.server}\` in ${host.root}/${dir} on ssh host \`${host.name}\`: ${remoteSaid(result.stderr) || `the script exited with ${result.code ?? result.signal}`}`,
        );
      }
      const key: LogKey = {
        team: request.team,
        stackId: request.stackId,
        subject: { kind: "server", name: request.server },
      };
      const known = this.#streams.get(id);
      if (started || !known) {
        // A fresh user_data run is a new attempt of the log; one found running (teamstack
        // restarted) is read again from its start by waitUntilReady, into an attempt it opens.
        const stream: Streaming = { key, secrets: request.secrets ?? [] };
        if (started && this.#logs) {
          stream.writer = await this.#logs.open(key, "user_data", stream.secrets).catch(() => undefined);
        }
        this.#streams.set(id, stream);
      }
      return artifacts;
    });
  }

  waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult> {
    signal?.throwIfAborted();
    const key = ref.id;
    let follow = this.#follows.get(key);
    if (!follow) {
      follow = this.#follow(ref, signal).finally(() => this.#follows.delete(key));
      this.#follows.set(key, follow);
      return follow;
    }
    // Another watcher follows it already: wait for the same answer (or this one's abort).
    return abortable(follow, signal);
  }

  async #follow(ref: ServerRef, signal: AbortSignal | undefined): Promise<ReadyResult> {
    const where = parseServerId(ref.id);
    if (!where || ref.team === undefined) return serverGone(ref, "it has no ssh server id");
    const place = await this.#placeOf(ref);
    if (!place) return serverGone(ref, "no such server");
    const stream = this.#streams.get(ref.id);
    let writer = stream?.writer;
    if (stream && !writer && this.#logs) {
      writer = await this.#logs.open(stream.key, "user_data", stream.secrets).catch(() => undefined);
      writer?.write(
        "[teamstack] user_data was already running when teamstack started again; its output from the start:\n",
      );
    }
    if (stream) stream.writer = undefined;
    // Without the create of this process, the secrets to mask the output with are unknown: the
    // output is then not kept, only the readiness answered.
    this.#streams.delete(ref.id);
    const decoder = new TextDecoder("utf-8");
    let offset = 0;
    let tail = "";
    let ended: { code?: number } | undefined;
    const take = (chunk: Buffer): void => {
      offset += chunk.length;
      const text = decoder.decode(chunk, { stream: true });
      writer?.write(text);
      tail = (tail + text).slice(-READY_OUTPUT_CHARS);
    };
    try {
      for (let attempt = 0; ; attempt++) {
        let marker: string | undefined;
        try {
          await this.#client.run(
            place.host,
            "teamstack-follow",
            FOLLOW,
            [place.host.root, place.dir, String(offset)],
            {
              onStdout: take,
              onStderrLine: (line) => {
                if (/^teamstack-(exit|gone)/.test(line)) marker = line;
              },
              ...(signal ? { signal } : {}),
            },
          );
        } catch (err) {
          signal?.throwIfAborted();
          if (err instanceof SshHostKeyError || attempt >= FOLLOW_RETRIES) throw err;
          await delay(1000 * 2 ** attempt, signal);
          continue;
        }
        signal?.throwIfAborted();
        if (marker === undefined) {
          if (attempt >= FOLLOW_RETRIES) {
            throw new SshConnectionError(
              `the session following user_data of server \`${ref.server}\` on ssh host \`${place.host.name}\` ended ${FOLLOW_RETRIES + 1} times without its outcome`,
            );
          }
          await delay(1000 * 2 ** attempt, signal);
          continue;
        }
        const code = /^teamstack-exit (\d+)/.exec(marker)?.[1];
        ended = code === undefined ? {} : { code: Number(code) };
        break;
      }
    } finally {
      const rest = decoder.decode();
      if (rest !== "") {
        writer?.write(rest);
        tail = (tail + rest).slice(-READY_OUTPUT_CHARS);
      }
      if (writer) {
        if (!ended) writer.write("\n[teamstack] stopped following user_data's output here\n");
        else if (ended.code === undefined)
          writer.write("\n[teamstack] user_data's runner is gone without an exit code\n");
        await writer.end(ended?.code).catch(() => undefined);
      }
    }
    if (ended.code === 0) return { ready: true };
    if (ended.code === undefined) {
      return {
        ready: false,
        reason: `user_data of server \`${ref.server}\` on ssh host \`${place.host.name}\` stopped before it finished (its process is gone: the host restarted, or the server was destroyed)`,
        output: tail,
      };
    }
    return {
      ready: false,
      exitCode: ended.code,
      reason: `user_data of server \`${ref.server}\` exited with code ${ended.code}`,
      output: tail,
    };
  }

  async runScript(ref: ServerRef, script: string, options: ScriptOptions): Promise<ScriptResult> {
    const place = await this.#placeOf(ref);
    if (!place || ref.id === "") {
      throw new ServerNotFoundError(ref.stackId, ref.server, "it has no ssh server id");
    }
    const trailer = `\n#teamstack-end-${randomBytes(12).toString("hex")}\n`;
    const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let code: number | undefined;
    let timedOut = false;
    let gone = false;
    let grace: NodeJS.Timeout | undefined;
    const env = [
      ...serverEnv(place.dir, ref.stackId, ref.server, place.host.address),
      ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ];
    await this.#client
      .run(
        place.host,
        "teamstack-run",
        RUN,
        [place.host.root, place.dir, String(seconds), trailer, ...env, ...interpreter(script)],
        {
          input: script + trailer,
          // A backstop: the host kills the script at its timeout itself.
          timeoutMs: options.timeoutMs + 30_000,
          onStdout: (chunk) => {
            const room = options.maxOutputBytes - kept;
            if (chunk.length > room) truncated = true;
            if (room <= 0) return;
            const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
            chunks.push(part);
            kept += part.length;
          },
          onStderrLine: (line, child) => {
            if (line === "teamstack-timeout") timedOut = true;
            else if (line === "teamstack-gone") gone = true;
            const m = /^teamstack-exit (\d+)$/.exec(line);
            if (m) {
              code = Number(m[1]);
              // Background processes the script started may hold the channel open: stop waiting.
              grace = setTimeout(() => child.kill("SIGKILL"), OUTPUT_GRACE_MS);
            }
          },
        },
      )
      .finally(() => clearTimeout(grace));
    if (gone) {
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        `its directory on ssh host \`${place.host.name}\` is gone`,
      );
    }
    if (timedOut) {
      chunks.push(
        Buffer.from(`\n[teamstack] the script ran longer than ${options.timeoutMs} ms and was killed\n`),
      );
    }
    if (code === undefined && !timedOut) {
      throw new SshConnectionError(
        `the session running a script on server \`${ref.server}\` (ssh host \`${place.host.name}\`) ended without the script's exit code`,
      );
    }
    const output = new TextDecoder("utf-8").decode(Buffer.concat(chunks), { stream: true });
    return { exitCode: timedOut ? TIMEOUT_EXIT_CODE : (code as number), output, truncated };
  }

  async destroy(ref: ServerRef): Promise<void> {
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return;
    const place = await this.#placeOf(ref, true);
    if (!place) return;
    await this.#mutex.run(place.id, async () => {
      const result = await this.#client.run(
        place.host,
        "teamstack-destroy",
        DESTROY,
        [place.host.root, place.dir],
        {
          timeoutMs: 120_000,
        },
      );
      if (!/^teamstack-destroyed$/m.test(result.stdout)) {
        throw new SshError(
          `cannot destroy server \`${ref.server}\` (${place.host.root}/${place.dir} on ssh host \`${place.host.name}\`): ${remoteSaid(result.stderr) || `the script exited with ${result.code ?? result.signal}`}`,
        );
      }
      this.#streams.delete(place.id);
    });
  }

  async shell(ref: ServerRef, term: string | undefined): Promise<ShellCommand> {
    const place = await this.#placeOf(ref);
    if (!place || ref.id === "")
      throw new ServerNotFoundError(ref.stackId, ref.server, "it has no ssh server id");
    const tools = await this.#client.tools;
    const session = await this.#client.dedicated(place.host);
    const env = [
      ...serverEnv(place.dir, ref.stackId, ref.server, place.host.address),
      ...(term ? [`TERM=${term}`] : []),
    ];
    const command = ["/bin/sh", "-c", SHELL, "teamstack-shell", place.host.root, place.dir, ...env]
      .map(shellWord)
      .join(" ");
    return {
      file: tools.ssh,
      args: [...(await session.args(true)), command],
      options: {
        stdio: "inherit",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(term ? { TERM: term } : {}) },
      },
      cleanup: async () => session.stop(),
    };
  }

  /** Ends this provider's ssh-agents now (they also end with the process). */
  close(): void {
    this.#client.closeSync();
  }

  /** The name of the host a server goes on: `options.host`, or one picked from the team's pool. */
  async #placement(
    team: string,
    stackId: string,
    server: string,
    options: Readonly<Record<string, unknown>> | undefined,
  ): Promise<string> {
    const named = options?.host;
    if (typeof named === "string" && named !== "") return named;
    const pool = await this.#credentials.list(team, PROVIDER);
    const picked = pickHost(pool, team, stackId, server);
    if (picked === undefined) {
      throw new SshHostError(
        `server \`${server}\` has no ssh host to run on: team \`${team}\` has registered none; ${HOW_TO_REGISTER(team)}`,
      );
    }
    return picked;
  }

  /** A registered host's fields. @throws SshHostError when the team has no host of that name. */
  async #host(team: string, name: string): Promise<SshHost> {
    const credential = await this.#credentials.get(team, name, PROVIDER);
    if (!credential) {
      throw new SshHostError(`team \`${team}\` has no ssh host \`${name}\`; ${HOW_TO_REGISTER(team, name)}`);
    }
    return parseHost(credential);
  }

  /**
   * Where a server is: from its `Id`, or, when that was lost (`lost`), from its token and the host
   * its options name or the pool picks again. Undefined when there is nothing to find.
   */
  async #placeOf(ref: ServerRef, lost = false): Promise<Place | undefined> {
    const parsed = parseServerId(ref.id);
    if (parsed) {
      const host = await this.#host(ref.team ?? "", parsed.host);
      return { host, dir: parsed.dir, id: ref.id };
    }
    if (ref.id !== "") {
      throw new ProviderRequestError(`\`${ref.id}\` is not an ssh server id (expected HOST/ts-...)`);
    }
    if (!lost || ref.token === undefined || ref.team === undefined) return undefined;
    const named = ref.options?.host;
    let hostName: string | undefined;
    if (typeof named === "string" && named !== "") hostName = named;
    else
      hostName = pickHost(
        await this.#credentials.list(ref.team, PROVIDER),
        ref.team,
        ref.stackId,
        ref.server,
      );
    if (hostName === undefined) return undefined;
    const host = await this.#host(ref.team, hostName);
    const dir = attemptDir(ref.team, ref.stackId, ref.server, ref.token);
    return { host, dir, id: serverId(host.name, dir) };
  }
}

/** How a team registers a host, for messages. */
export function HOW_TO_REGISTER(team: string, name = "NAME"): string {
  return `register one: PUT /teams/${team}/credentials/${name} with "provider": "${PROVIDER}" and the fields address, user, privateKey and hostKey (the host key line is what \`ssh-keyscan -t ed25519 ADDRESS\` prints after the address)`;
}

/** The environment of a server's processes: its mark and what the local provider also sets. */
function serverEnv(dir: string, stackId: string, server: string, address: string): string[] {
  return [
    `TEAMSTACK_SERVER_ID=${dir}`,
    `TEAMSTACK_SERVER=${server}`,
    `TEAMSTACK_STACK_ID=${stackId}`,
    `TEAMSTACK_IP=${address}`,
  ];
}

function interpreter(script: string): readonly string[] {
  const own = interpreterOf(script);
  return own.length > 0 ? own : DEFAULT_INTERPRETER;
}

/** What a remote script said on stderr, without the markers. */
function remoteSaid(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.replace(/^teamstack: /, "").trim())
    .filter((l) => l !== "" && !l.startsWith("teamstack-"))
    .slice(-5)
    .join("; ");
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Creates the `ssh` provider: each server is a directory and a process session on a host the
 * team registered, reached with the system's OpenSSH client.
 */
export function createSshProvider(opts: SshProviderOptions): Provider & { close(): void } {
  return new SshProvider(opts);
}
