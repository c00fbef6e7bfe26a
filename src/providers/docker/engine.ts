import { spawn } from "node:child_process";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { describeEndpoint, type Endpoint } from "./endpoint.ts";
import { DockerApiError, DockerUnreachableError } from "./errors.ts";
import { StreamDemuxer } from "./stream.ts";

/**
 * A small Docker Engine API client on node:http: JSON requests and execs (a hijacked connection
 * carrying stdin one way and the multiplexed stdout/stderr stream the other). The API version is
 * pinned in the path, so Docker Engine, Docker Desktop and Podman's service answer alike.
 */

/** v1.41 (Docker 20.10): every engine since 2020 speaks it, and Podman 4's compatible service too. */
export const API_VERSION = "v1.41";

export interface CallOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** A raw body (a tar) instead of JSON. */
  readonly raw?: Buffer;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

export interface ExecOptions {
  readonly cmd: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Written to the exec's stdin, which is then closed. */
  readonly stdin?: string;
  readonly workingDir?: string;
  readonly onStdout?: (data: Buffer) => void;
  readonly onStderr?: (data: Buffer) => void;
  readonly signal?: AbortSignal;
  /** Ends the connection (not the process) after this long. */
  readonly timeoutMs?: number;
}

export class DockerEngine {
  readonly endpoint: Endpoint;
  readonly #agent: http.Agent;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
    this.#agent =
      endpoint.kind === "tcp" && endpoint.tls
        ? new https.Agent({
            keepAlive: true,
            ...(endpoint.tls.ca !== undefined ? { ca: endpoint.tls.ca } : {}),
            ...(endpoint.tls.cert !== undefined ? { cert: endpoint.tls.cert } : {}),
            ...(endpoint.tls.key !== undefined ? { key: endpoint.tls.key } : {}),
            rejectUnauthorized: endpoint.tls.verify,
          })
        : new http.Agent({ keepAlive: true });
  }

  /** The endpoint in the user's words. */
  get where(): string {
    return describeEndpoint(this.endpoint);
  }

  /** Closes idle connections. */
  close(): void {
    this.#agent.destroy();
  }

  /**
   * One request; answers any status.
   * @throws DockerUnreachableError when the engine cannot be reached.
   */
  call(method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const payload =
        options.raw ?? (options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body)));
      const req = this.#request(method, path, options.query, {
        ...(payload
          ? {
              "content-type": options.raw ? "application/x-tar" : "application/json",
              "content-length": String(payload.length),
            }
          : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        reject(err);
      };
      const onAbort = (): void => {
        req.destroy();
        fail(options.signal?.reason as Error);
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          req.destroy();
          fail(
            new DockerUnreachableError(
              `the Docker Engine at ${this.where} did not answer ${method} ${path} within ${options.timeoutMs} ms`,
            ),
          );
        }, options.timeoutMs);
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (err) => fail(this.#unreachable(err)));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => fail(this.#unreachable(err)));
        res.on("end", () => {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", onAbort);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
      });
      req.end(payload);
    });
  }

  /**
   * A request whose answer must be 2xx, as JSON (undefined for an empty body).
   * @throws DockerApiError with the engine's message otherwise.
   */
  async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const answer = await this.call(method, path, options);
    if (answer.status >= 300) throw this.apiError(method, path, answer);
    const text = answer.body.toString("utf8").trim();
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** The engine's error answer as a DockerApiError naming the request. */
  apiError(method: string, path: string, answer: Answer): DockerApiError {
    const text = answer.body.toString("utf8");
    let message = text.trim().slice(0, 500);
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? message);
    } catch {
      // not JSON: the text as it is
    }
    return new DockerApiError(
      answer.status,
      `the Docker Engine at ${this.where} refused ${method} ${path.replace(/\?.*$/, "")} (${answer.status}): ${message}`,
    );
  }

  /**
   * Runs a command in a running container through the Engine's exec and waits for it: stdin
   * written and closed, stdout and stderr demultiplexed to the callbacks.
   * @returns its exit code (undefined when the connection ended before the engine knew one).
   */
  async exec(container: string, options: ExecOptions): Promise<number | undefined> {
    const created = await this.json<{ Id: string }>("POST", `/containers/${container}/exec`, {
      body: {
        AttachStdin: options.stdin !== undefined,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        Cmd: options.cmd,
        ...(options.env ? { Env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`) } : {}),
        ...(options.workingDir ? { WorkingDir: options.workingDir } : {}),
      },
    });
    const socket = await this.hijack(`/exec/${created.Id}/start`, { Detach: false, Tty: false });
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: Error): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => done(options.signal?.reason as Error);
      const demux = new StreamDemuxer((stream, data) => {
        if (stream === 2) options.onStderr?.(data);
        else options.onStdout?.(data);
      });
      socket.on("data", (chunk: Buffer) => demux.push(chunk));
      socket.on("end", () => done());
      socket.on("close", () => done());
      socket.on("error", (err) => done(this.#unreachable(err)));
      if (options.timeoutMs !== undefined) timer = setTimeout(() => done(), options.timeoutMs);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.stdin !== undefined) socket.end(options.stdin);
    });
    const inspected = await this.json<{ Running?: boolean; ExitCode?: number | null }>(
      "GET",
      `/exec/${created.Id}/json`,
    );
    return inspected.Running || inspected.ExitCode === null ? undefined : inspected.ExitCode;
  }

  /**
   * Starts a hijacked request (exec start, attach): the raw connection once the engine upgrades it.
   * @throws DockerApiError when the engine answers with an error instead.
   */
  hijack(path: string, body: unknown): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const req = this.#request("POST", path, undefined, {
        "content-type": "application/json",
        "content-length": String(payload.length),
        connection: "Upgrade",
        upgrade: "tcp",
      });
      req.on("error", (err) => reject(this.#unreachable(err)));
      req.on("upgrade", (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const answer = { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
          if (answer.status >= 300) {
            reject(this.apiError("POST", path, answer));
            return;
          }
          // An engine that does not upgrade but streams the answer: hand it over as a socket-like stream.
          const stream = new Duplex({
            read() {},
            write(_c, _e, cb) {
              cb();
            },
          });
          stream.push(answer.body);
          stream.push(null);
          resolve(stream as unknown as Socket);
        });
      });
      req.end(payload);
    });
  }

  #request(
    method: string,
    path: string,
    query: CallOptions["query"],
    headers: Record<string, string>,
  ): http.ClientRequest {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) search.set(k, String(v));
    const qs = search.toString();
    const fullPath = `/${API_VERSION}${path}${qs ? `?${qs}` : ""}`;
    const e = this.endpoint;
    const hijacking = headers.upgrade !== undefined;
    const base: http.RequestOptions = {
      method,
      path: fullPath,
      // Over TCP the Host header stays the engine's own: https checks the certificate against it.
      headers: e.kind === "tcp" ? headers : { host: "docker", ...headers },
      // A hijacked connection is never given back to a pool.
      agent: hijacking ? false : this.#agent,
    };
    if (e.kind === "unix") return http.request({ ...base, socketPath: e.path });
    if (e.kind === "ssh")
      return http.request({ ...base, agent: false, createConnection: () => sshDial(e) as Socket });
    if (e.tls) {
      return https.request({
        ...base,
        host: e.host,
        port: e.port,
        ...(hijacking
          ? {
              ...(e.tls.ca !== undefined ? { ca: e.tls.ca } : {}),
              ...(e.tls.cert !== undefined ? { cert: e.tls.cert } : {}),
              ...(e.tls.key !== undefined ? { key: e.tls.key } : {}),
              rejectUnauthorized: e.tls.verify,
            }
          : {}),
      });
    }
    return http.request({ ...base, host: e.host, port: e.port });
  }

  #unreachable(err: Error): Error {
    if (err instanceof DockerApiError || err instanceof DockerUnreachableError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    const hint =
      this.endpoint.kind === "unix"
        ? "start Docker (or `podman system service`), or set DOCKER_HOST to the engine's endpoint"
        : this.endpoint.kind === "ssh"
          ? "check that `ssh` reaches the host without a prompt and that it has the docker CLI"
          : "check that the engine listens there and, for TLS, the credential's certificates";
    return new DockerUnreachableError(`cannot reach the Docker Engine at ${this.where} (${code}): ${hint}`, {
      cause: err,
    });
  }
}

/**
 * A connection to an engine over SSH, as the Docker CLI makes it: the system's `ssh` runs
 * `docker system dial-stdio` on the host, whose stdin and stdout are the connection.
 */
function sshDial(e: Extract<Endpoint, { kind: "ssh" }>): Duplex {
  const child = spawn(
    "ssh",
    [
      "-o",
      "BatchMode=yes",
      ...(e.port !== undefined ? ["-p", String(e.port)] : []),
      "--",
      e.target,
      "docker",
      "system",
      "dial-stdio",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString("utf8")).slice(-2000);
  });
  const duplex = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk, _enc, cb) {
      child.stdin.write(chunk, cb);
    },
    final(cb) {
      child.stdin.end(cb);
    },
    destroy(err, cb) {
      child.kill();
      cb(err);
    },
  });
  child.stdout.on("data", (c: Buffer) => {
    if (!duplex.push(c)) child.stdout.pause();
  });
  child.stdout.on("end", () => duplex.push(null));
  child.on("error", (err) => duplex.destroy(err));
  child.on("exit", (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new Error(`ssh exited ${code}: ${stderr.trim()}`));
  });
  return duplex;
}
