import { parsePortableSize } from "../../core/capabilities.ts";
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
import type { LogWriter, ServerLogs } from "../../ports/server-logs.ts";
import { hashOf, KeyedMutex } from "../../shared/state-files.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { checkServerNames, isSafeName, serverGone } from "../server-names.ts";
import { DOCKER_TYPE } from "./declaration.ts";
import { type Endpoint, endpointFromCredential } from "./endpoint.ts";
import { DockerEngine } from "./engine.ts";
import { DockerApiError, DockerError, DockerImageMissingError } from "./errors.ts";
import {
  FOLLOW_USER_DATA,
  KEEP_ALIVE,
  RUN_DIR,
  RUN_SCRIPT,
  RUN_USER_DATA,
  START_USER_DATA,
} from "./scripts.ts";
import { dockerShellCommand } from "./shell.ts";

/** The provider's name, as templates write it. */
export const DOCKER = "docker";
/** The image of a server that names none, when the operator sets no other. */
export const BUILTIN_IMAGE = "debian:bookworm-slim";

/** Labels on everything the provider makes: how a create finds its container and destroy its network. */
export const LABELS = {
  stack: "io.teamstack.stack",
  server: "io.teamstack.server",
  token: "io.teamstack.token",
  team: "io.teamstack.team",
} as const;

export interface DockerProviderOptions {
  /** This machine's own engine (servers without a `credential`). */
  readonly localEndpoint: Endpoint;
  /** The image of servers that name none and whose credential names none. */
  readonly defaultImage: string;
  /** Teams' registered Docker hosts. */
  readonly credentials?: ProviderCredentials;
  /** Where user_data's output is kept, attempt by attempt. */
  readonly logs?: ServerLogs;
  /** More labels on everything made (the operator's `TEAMSTACK_DOCKER_LABELS`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** How long to try pulling a missing image before saying it is missing (default 60 s). */
  readonly pullTimeoutMs?: number;
  /** How many 0.1 s checks one follow of user_data makes before it is asked again (default 300). */
  readonly followChecks?: number;
}

/** How many characters of user_data's output a failed ReadyResult carries. */
const READY_OUTPUT_CHARS = 4096;

interface ContainerSummary {
  Id: string;
  Labels?: Record<string, string> | null;
  State?: string;
}

interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Running: boolean; Status: string };
  Config: { Labels?: Record<string, string> | null; Hostname?: string };
  NetworkSettings: { Networks?: Record<string, { IPAddress?: string }> | null };
}

/** The container limits a server's type asks for: `container-2cpu-4096mb` or a portable size. */
export function limitsOf(type: string): { NanoCpus?: number; Memory?: number } {
  const native = DOCKER_TYPE.exec(type);
  let cpu: number | undefined;
  let ramMb: number | undefined;
  if (native) {
    cpu = native[1] !== undefined ? Number(native[1]) : undefined;
    if (cpu !== undefined && !(cpu > 0)) {
      throw new ProviderRequestError(`type \`${type}\`: \`${native[1]}\` is not a number of CPUs`);
    }
    ramMb = native[2] !== undefined ? Number(native[2]) : undefined;
  } else {
    const size = parsePortableSize(type);
    if (typeof size === "string") {
      throw new ProviderRequestError(
        `type \`${type}\` is neither a container type nor a portable size: ${size}`,
      );
    }
    cpu = size.cpu;
    ramMb = size.ramMb;
  }
  return {
    ...(cpu !== undefined ? { NanoCpus: Math.round(cpu * 1e9) } : {}),
    ...(ramMb !== undefined ? { Memory: ramMb * 1024 * 1024 } : {}),
  };
}

/** The Engine's `filters` query for these labels (`key=value`, or `key` alone). */
export function labelFilter(labels: Readonly<Record<string, string | undefined>>): string {
  return JSON.stringify({
    label: Object.entries(labels).map(([k, v]) => (v === undefined ? k : `${k}=${v}`)),
  });
}

/** The stack's network's name: one per stack. */
export function networkName(stackId: string): string {
  return `teamstack-${hashOf(DOCKER, "network", stackId).slice(0, 16)}`;
}

/** A container's name: one per (stack, server, token), so two creates of one attempt clash instead of both making one. */
export function containerName(stackId: string, server: string, token: string): string {
  const readable = server.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 40);
  return `teamstack-${readable}-${hashOf(DOCKER, stackId, server, token).slice(0, 16)}`;
}

class DockerProvider implements Provider {
  readonly name = DOCKER as never;
  readonly #opts: DockerProviderOptions;
  readonly #local: DockerEngine;
  readonly #remote = new Map<string, DockerEngine>();
  readonly #mutex = new KeyedMutex();
  /** The secrets of servers created (or found) by this process, to mask their logs. */
  readonly #secrets = new Map<string, readonly string[]>();

  constructor(opts: DockerProviderOptions) {
    this.#opts = opts;
    this.#local = new DockerEngine(opts.localEndpoint);
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    checkServerNames("docker", request.stackId, request.server);
    const { engine, image, credential } = await this.#target(request.team, request.options);
    const limits = limitsOf(request.type);
    return this.#mutex.run(`${request.stackId}/${request.server}`, async () => {
      for (let round = 0; ; round++) {
        const mine = await this.#containersOf(engine, {
          [LABELS.stack]: request.stackId,
          [LABELS.server]: request.server,
        });
        let found: ContainerSummary | undefined;
        for (const c of mine) {
          if (c.Labels?.[LABELS.token] === request.idempotencyToken) found = c;
          // Another attempt's container: the new attempt replaces it. One server, one container.
          else await this.#remove(engine, c.Id);
        }
        let id = found?.Id;
        if (id === undefined) {
          await this.#ensureImage(engine, image);
          id = await this.#createContainer(engine, request, image, limits);
          if (id === undefined) {
            if (round < 3) continue;
            throw new DockerError(
              `container of server \`${request.server}\` kept clashing with another create`,
            );
          }
        }
        const inspected = await this.#start(engine, id);
        const artifacts = artifactsOf(inspected, request.stackId, request.server, request.type, credential);
        const env = {
          HOME: "/root",
          TEAMSTACK_SERVER: request.server,
          TEAMSTACK_IP: artifacts.IP,
          TEAMSTACK_STACK_ID: request.stackId,
        };
        const err: Buffer[] = [];
        const code = await engine.exec(inspected.Id, {
          cmd: [
            "sh",
            "-c",
            START_USER_DATA,
            "teamstack-start",
            String(Buffer.byteLength(request.userData)),
            RUN_USER_DATA,
          ],
          env,
          stdin: request.userData,
          onStderr: (d) => err.push(d),
        });
        if (code !== 0) {
          throw new DockerError(
            `cannot start user_data in container ${short(inspected.Id)} of server \`${request.server}\` (exit ${code ?? "unknown"}): ${Buffer.concat(err).toString("utf8").trim().slice(0, 500)}`,
          );
        }
        this.#secrets.set(secretKey(request.stackId, request.server, inspected.Id), request.secrets ?? []);
        return artifacts;
      }
    });
  }

  async waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult> {
    signal?.throwIfAborted();
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return serverGone(ref, "no such container");
    const { engine } = await this.#target(ref.team, ref.options ?? {});
    const container = await this.#find(engine, ref);
    if (!container) return serverGone(ref, "its container does not exist");
    const secrets = this.#secrets.get(secretKey(ref.stackId, ref.server, container.Id));
    let writer: LogWriter | undefined;
    if (this.#opts.logs && ref.team !== undefined && secrets !== undefined) {
      writer = await this.#opts.logs
        .open(
          { team: ref.team, stackId: ref.stackId, subject: { kind: "server", name: ref.server } },
          "user_data",
          secrets,
        )
        .catch(() => undefined);
    }
    let offset = 0;
    let tail = "";
    const decoder = new TextDecoder("utf-8");
    const take = (data: Buffer): void => {
      offset += data.length;
      const text = decoder.decode(data, { stream: true });
      writer?.write(text);
      tail = (tail + text).slice(-READY_OUTPUT_CHARS);
    };
    const end = async (result: ReadyResult): Promise<ReadyResult> => {
      const rest = decoder.decode();
      if (rest) take(Buffer.from(rest));
      await writer?.end(result.ready ? 0 : result.exitCode).catch(() => undefined);
      return result;
    };
    try {
      for (let broken = 0; ; ) {
        let status = "";
        await engine
          .exec(container.Id, {
            cmd: [
              "sh",
              "-c",
              FOLLOW_USER_DATA,
              "teamstack-follow",
              String(offset),
              String(this.#opts.followChecks ?? 300),
            ],
            onStdout: take,
            onStderr: (d) => {
              status += d.toString("utf8");
            },
            ...(signal ? { signal } : {}),
          })
          .catch((err: unknown) => {
            if (signal?.aborted) throw err;
            if (!(err instanceof DockerApiError)) throw err;
            status = "";
          });
        const line = status.trim().split("\n").at(-1) ?? "";
        const exit = /^exit (\d+)$/.exec(line);
        if (exit) {
          const exitCode = Number(exit[1]);
          if (exitCode === 0) return await end({ ready: true });
          return await end({
            ready: false,
            exitCode,
            reason: `user_data of server \`${ref.server}\` exited with code ${exitCode}`,
            output: tail,
          });
        }
        if (line === "unstarted") {
          return await end({
            ready: false,
            reason: `user_data of server \`${ref.server}\` was never started in container ${short(container.Id)}`,
          });
        }
        if (line === "again") continue;
        // The follow ended without a word: the container stopped, or the connection broke.
        const now = await this.#inspect(engine, container.Id);
        if (!now) return await end(serverGone(ref, "its container was removed"));
        if (!now.State.Running) {
          return await end({
            ready: false,
            reason: `container ${short(container.Id)} of server \`${ref.server}\` stopped (${now.State.Status}) before user_data finished`,
            output: tail,
          });
        }
        if (++broken > 5) {
          throw new DockerError(
            `following user_data of server \`${ref.server}\` keeps breaking off; last said: ${status.trim().slice(0, 200)}`,
          );
        }
      }
    } catch (err) {
      await writer?.end().catch(() => undefined);
      throw err;
    }
  }

  async runScript(ref: ServerRef, script: string, options: ScriptOptions): Promise<ScriptResult> {
    checkServerNames("docker", ref.stackId, ref.server);
    const { engine } = await this.#target(ref.team, ref.options ?? {});
    const container = await this.#running(engine, ref);
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    const started = Date.now();
    const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    const code = await engine.exec(container.Id, {
      cmd: ["sh", "-c", RUN_SCRIPT, "teamstack-script", String(seconds)],
      env: {
        HOME: "/root",
        TEAMSTACK_SERVER: ref.server,
        TEAMSTACK_STACK_ID: ref.stackId,
        ...options.env,
      },
      stdin: script,
      onStdout: (d) => {
        if (kept >= options.maxOutputBytes) {
          truncated = true;
          return;
        }
        const piece = d.subarray(0, options.maxOutputBytes - kept);
        if (piece.length < d.length) truncated = true;
        chunks.push(piece);
        kept += piece.length;
      },
      onStderr: (d) => chunks.push(d.subarray(0, Math.max(0, options.maxOutputBytes - kept))),
      // The script's own `timeout` ends it; this only ends a connection that outlives it.
      timeoutMs: options.timeoutMs + 10_000,
    });
    let output = Buffer.concat(chunks).toString("utf8");
    const timedOut = Date.now() - started >= options.timeoutMs && code !== 0;
    if (timedOut)
      output += `\n[teamstack] the script did not finish within ${options.timeoutMs} ms and was killed\n`;
    return { exitCode: timedOut ? 124 : (code ?? 1), output, truncated };
  }

  async destroy(ref: ServerRef): Promise<void> {
    if (!isSafeName(ref.stackId) || !isSafeName(ref.server)) return;
    const { engine } = await this.#target(ref.team, ref.options ?? {});
    await this.#mutex.run(`${ref.stackId}/${ref.server}`, async () => {
      const container = await this.#find(engine, ref);
      if (container) await this.#remove(engine, container.Id);
      this.#secrets.delete(secretKey(ref.stackId, ref.server, container?.Id ?? ""));
      // Volumes the provider labelled for this server (anonymous ones go with the container).
      const volumes = await engine.json<{ Volumes?: { Name: string }[] | null }>("GET", "/volumes", {
        query: { filters: labelFilter({ [LABELS.stack]: ref.stackId, [LABELS.server]: ref.server }) },
      });
      for (const v of volumes.Volumes ?? []) await engine.call("DELETE", `/volumes/${v.Name}`);
      await this.#removeNetworkIfUnused(engine, ref.stackId);
    });
  }

  async stop(ref: ServerRef): Promise<void> {
    checkServerNames("docker", ref.stackId, ref.server);
    const { engine } = await this.#target(ref.team, ref.options ?? {});
    const container = await this.#mustFind(engine, ref);
    const answer = await engine.call("POST", `/containers/${container.Id}/stop`, { query: { t: 10 } });
    if (answer.status >= 300 && answer.status !== 304)
      throw engine.apiError("POST", "/containers/{id}/stop", answer);
  }

  async start(ref: ServerRef): Promise<ServerArtifacts> {
    checkServerNames("docker", ref.stackId, ref.server);
    const { engine, credential } = await this.#target(ref.team, ref.options ?? {});
    const container = await this.#mustFind(engine, ref);
    const inspected = await this.#start(engine, container.Id);
    const type = inspected.Config.Labels?.["io.teamstack.type"] ?? "container";
    return artifactsOf(inspected, ref.stackId, ref.server, type, credential);
  }

  async shell(ref: ServerRef, term: string | undefined): Promise<ShellCommand> {
    checkServerNames("docker", ref.stackId, ref.server);
    const { engine } = await this.#target(ref.team, ref.options ?? {});
    const container = await this.#running(engine, ref);
    return dockerShellCommand(engine.endpoint, engine === this.#local, container.Id, term);
  }

  /** Checks that the engine answers and the image is there (or can be pulled). */
  async preflight(team: string, options: Readonly<Record<string, unknown>>): Promise<void> {
    const { engine, image } = await this.#target(team, options);
    const ping = await engine.call("GET", "/_ping", { timeoutMs: 10_000 });
    if (ping.status !== 200) throw engine.apiError("GET", "/_ping", ping);
    await this.#ensureImage(engine, image);
  }

  /** The engine and image of a server: its team's credential's host, or this machine's own engine. */
  async #target(
    team: string | undefined,
    options: Readonly<Record<string, unknown>>,
  ): Promise<{ engine: DockerEngine; image: string; credential: string | undefined }> {
    const named = typeof options.image === "string" ? options.image : undefined;
    const credential = typeof options.credential === "string" ? options.credential : undefined;
    if (credential === undefined) {
      return { engine: this.#local, image: named ?? this.#opts.defaultImage, credential };
    }
    if (!this.#opts.credentials || team === undefined) {
      throw new ProviderRequestError(
        `the server names the Docker credential \`${credential}\`, but no team credentials are open here${team === undefined ? " (the request names no team)" : ""}`,
      );
    }
    const found = await this.#opts.credentials.get(team, credential, DOCKER);
    if (!found) {
      throw new ProviderRequestError(
        `team \`${team}\` has no Docker credential \`${credential}\`; register one (teamstack credentials, provider docker, with an \`endpoint\`)`,
      );
    }
    const endpoint = endpointFromCredential(credential, found.fields);
    const key = `${team}/${credential}/${hashOf(JSON.stringify(found.fields))}`;
    let engine = this.#remote.get(key);
    if (!engine) {
      engine = new DockerEngine(endpoint);
      this.#remote.set(key, engine);
    }
    return { engine, image: named ?? this.#opts.defaultImage, credential };
  }

  async #containersOf(engine: DockerEngine, labels: Record<string, string>): Promise<ContainerSummary[]> {
    return engine.json<ContainerSummary[]>("GET", "/containers/json", {
      query: { all: true, filters: labelFilter(labels) },
    });
  }

  async #inspect(engine: DockerEngine, id: string): Promise<ContainerInspect | undefined> {
    const answer = await engine.call("GET", `/containers/${id}/json`);
    if (answer.status === 404) return undefined;
    if (answer.status >= 300) throw engine.apiError("GET", "/containers/{id}/json", answer);
    return JSON.parse(answer.body.toString("utf8")) as ContainerInspect;
  }

  /** The server's container: by its id when known (and still the server's), else by its token. */
  async #find(engine: DockerEngine, ref: ServerRef): Promise<ContainerSummary | undefined> {
    if (ref.id !== "") {
      const c = await this.#inspect(engine, ref.id);
      const labels = c?.Config.Labels ?? {};
      if (!c || labels[LABELS.stack] !== ref.stackId || labels[LABELS.server] !== ref.server)
        return undefined;
      return { Id: c.Id, Labels: labels, State: c.State.Status };
    }
    if (ref.token === undefined) return undefined;
    const [c] = await this.#containersOf(engine, {
      [LABELS.stack]: ref.stackId,
      [LABELS.server]: ref.server,
      [LABELS.token]: ref.token,
    });
    return c;
  }

  async #mustFind(engine: DockerEngine, ref: ServerRef): Promise<ContainerSummary> {
    const c = await this.#find(engine, ref);
    if (!c)
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        `no container ${ref.id || `with token ${ref.token ?? "?"}`} on ${engine.where}`,
      );
    return c;
  }

  async #running(engine: DockerEngine, ref: ServerRef): Promise<ContainerSummary> {
    const c = await this.#mustFind(engine, ref);
    if (c.State !== "running") {
      throw new DockerError(
        `container ${short(c.Id)} of server \`${ref.server}\` is ${c.State ?? "not running"}; start it first (teamstack start)`,
      );
    }
    return c;
  }

  /** Starts a container (one running already is fine) and answers how it is now. */
  async #start(engine: DockerEngine, id: string): Promise<ContainerInspect> {
    const answer = await engine.call("POST", `/containers/${id}/start`);
    if (answer.status >= 300 && answer.status !== 304)
      throw engine.apiError("POST", "/containers/{id}/start", answer);
    const inspected = await this.#inspect(engine, id);
    if (!inspected) throw new DockerError(`container ${short(id)} disappeared while it was being started`);
    return inspected;
  }

  /** Creates the server's container, or answers undefined when a create with the same name got there first. */
  async #createContainer(
    engine: DockerEngine,
    request: CreateServerRequest,
    image: string,
    limits: { NanoCpus?: number; Memory?: number },
  ): Promise<string | undefined> {
    const labels = {
      ...this.#opts.labels,
      [LABELS.stack]: request.stackId,
      [LABELS.server]: request.server,
      [LABELS.token]: request.idempotencyToken,
      [LABELS.team]: request.team,
      "io.teamstack.type": request.type,
    };
    const network = networkName(request.stackId);
    for (let round = 0; round < 3; round++) {
      await this.#ensureNetwork(engine, request.stackId);
      const answer = await engine.call("POST", "/containers/create", {
        query: { name: containerName(request.stackId, request.server, request.idempotencyToken) },
        body: {
          Image: image,
          Cmd: ["sh", "-c", KEEP_ALIVE, "teamstack-keep-alive"],
          Hostname: request.server.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 63),
          Labels: labels,
          HostConfig: {
            Init: true,
            NetworkMode: network,
            Tmpfs: { [RUN_DIR]: "rw,mode=0700" },
            // A member's code: no setuid gain inside, and a fork bomb stops at the container's
            // own process limit instead of filling the engine's machine.
            SecurityOpt: ["no-new-privileges"],
            PidsLimit: CONTAINER_PIDS_LIMIT,
            ...limits,
          },
          NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [request.server] } } },
        },
      });
      if (answer.status === 201) return (JSON.parse(answer.body.toString("utf8")) as { Id: string }).Id;
      if (answer.status === 409) return undefined;
      const text = answer.body.toString("utf8");
      // The stack's last other server was destroyed between our network check and this create.
      if (answer.status === 404 && /network/i.test(text)) continue;
      if (answer.status === 404 && /image|no such/i.test(text)) {
        throw new DockerImageMissingError(
          `image \`${image}\` is not on the Docker Engine at ${engine.where}`,
        );
      }
      throw engine.apiError("POST", "/containers/create", answer);
    }
    throw new DockerError(
      `the network of stack \`${request.stackId}\` kept disappearing while server \`${request.server}\` was created`,
    );
  }

  async #ensureNetwork(engine: DockerEngine, stackId: string): Promise<void> {
    const name = networkName(stackId);
    const found = await engine.call("GET", `/networks/${name}`);
    if (found.status === 200) return;
    const answer = await engine.call("POST", "/networks/create", {
      body: {
        Name: name,
        CheckDuplicate: true,
        Driver: "bridge",
        Labels: { ...this.#opts.labels, [LABELS.stack]: stackId },
      },
    });
    if (answer.status === 201 || answer.status === 409) return;
    // Podman answers a duplicate name with 500 "network already exists".
    if (/already exists/i.test(answer.body.toString("utf8"))) return;
    throw engine.apiError("POST", "/networks/create", answer);
  }

  async #removeNetworkIfUnused(engine: DockerEngine, stackId: string): Promise<void> {
    const left = await this.#containersOf(engine, { [LABELS.stack]: stackId });
    if (left.length > 0) return;
    const answer = await engine.call("DELETE", `/networks/${networkName(stackId)}`);
    // Gone already (a concurrent destroy), or in use again (a concurrent create): both fine.
    if (answer.status < 300 || answer.status === 404 || answer.status === 409) return;
    if (/in use|has active endpoints|no such|not found/i.test(answer.body.toString("utf8"))) return;
    throw engine.apiError("DELETE", "/networks/{name}", answer);
  }

  async #remove(engine: DockerEngine, id: string): Promise<void> {
    const answer = await engine.call("DELETE", `/containers/${id}`, { query: { force: true, v: true } });
    if (answer.status < 300 || answer.status === 404) return;
    // Another process is removing it already.
    if (answer.status === 409 || /in progress|no such/i.test(answer.body.toString("utf8"))) return;
    throw engine.apiError("DELETE", "/containers/{id}", answer);
  }

  /**
   * The image, on the engine or pulled within the pull timeout.
   * @throws DockerImageMissingError naming the image and the engine.
   */
  async #ensureImage(engine: DockerEngine, image: string): Promise<void> {
    const found = await engine.call("GET", `/images/${encodeURIComponent(image)}/json`);
    if (found.status === 200) return;
    if (found.status !== 404) throw engine.apiError("GET", "/images/{name}/json", found);
    const timeoutMs = this.#opts.pullTimeoutMs ?? 60_000;
    const [name, tag] = splitImage(image);
    let why: string;
    try {
      const pulled = await engine.call("POST", "/images/create", {
        query: { fromImage: name, tag },
        timeoutMs,
      });
      // The Engine streams progress with status 200 and reports a failed pull inside the stream.
      const text = pulled.body.toString("utf8");
      const error = /"error"\s*:\s*"([^"]*)"/.exec(text)?.[1];
      if (pulled.status < 300 && error === undefined) {
        const again = await engine.call("GET", `/images/${encodeURIComponent(image)}/json`);
        if (again.status === 200) return;
      }
      why = error ?? (text.trim().slice(0, 300) || `status ${pulled.status}`);
    } catch (err) {
      why = (err as Error).message;
    }
    throw new DockerImageMissingError(
      `image \`${image}\` is not on the Docker Engine at ${engine.where} and could not be pulled within ${timeoutMs} ms (${why}); load it there (docker load, podman import) or name another with options.image`,
    );
  }
}

function splitImage(image: string): [string, string] {
  const at = image.indexOf("@");
  if (at >= 0) return [image.slice(0, at), image.slice(at + 1)];
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, "latest"];
}

function artifactsOf(
  c: ContainerInspect,
  stackId: string,
  server: string,
  type: string,
  credential: string | undefined,
): ServerArtifacts {
  const ip = c.NetworkSettings.Networks?.[networkName(stackId)]?.IPAddress ?? "";
  if (ip === "")
    throw new DockerError(
      `container ${short(c.Id)} of server \`${server}\` has no address on its stack's network`,
    );
  return {
    Id: c.Id,
    IP: ip,
    PrivateIP: ip,
    PublicIP: ip,
    Hostname: server,
    Provider: DOCKER,
    Type: type,
    Region: credential ?? "this-machine",
  };
}

function short(id: string): string {
  return id.slice(0, 12);
}

function secretKey(stackId: string, server: string, id: string): string {
  return `${stackId}/${server}/${id}`;
}

/** The most processes a server's container may have at once (HostConfig.PidsLimit). */
export const CONTAINER_PIDS_LIMIT = 2048;

/** The `docker` provider: each server a container on a Docker Engine (see README.md beside it). */
export function createDockerProvider(opts: DockerProviderOptions): Provider & {
  preflight(team: string, options: Readonly<Record<string, unknown>>): Promise<void>;
} {
  return new DockerProvider(opts);
}
