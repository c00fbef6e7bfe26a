import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileServerLogs } from "../../../src/local/server-logs.ts";
import type {
  CreateServerRequest,
  ProviderCredentials,
  ServerArtifacts,
  ServerRef,
} from "../../../src/ports/provider.ts";
import type { ServerLogs } from "../../../src/ports/server-logs.ts";
import {
  CONTAINER_PIDS_LIMIT,
  createDockerProvider,
  LABELS,
} from "../../../src/providers/docker/docker-provider.ts";
import { labelled, type PodmanService, podmanMissing, startPodman } from "../../support/podman.ts";

// A real engine: Podman's Docker-compatible service, started by the tests (test/support/podman.ts).
const missing = await podmanMissing();
if (missing) console.warn(`skipping docker provider tests: ${missing}`);

const run = randomBytes(3).toString("hex");
const SECRET = `s3cr3t-${run}`;
let podman: PodmanService;
let stateDir: string;
let logs: ServerLogs;
let provider: ReturnType<typeof createDockerProvider>;

function request(
  stackId: string,
  server: string,
  userData: string,
  extra: Partial<CreateServerRequest> = {},
): CreateServerRequest {
  return {
    stackId,
    team: "team",
    member: "ada",
    server,
    type: "container",
    options: {},
    userData,
    idempotencyToken: `${stackId}.${server}.1`,
    secrets: [SECRET],
    ...extra,
  };
}

async function up(req: CreateServerRequest): Promise<{ artifacts: ServerArtifacts; ref: ServerRef }> {
  const artifacts = await provider.create(req);
  return {
    artifacts,
    ref: {
      team: req.team,
      stackId: req.stackId,
      server: req.server,
      id: artifacts.Id,
      token: req.idempotencyToken,
    },
  };
}

const script = (ref: ServerRef, text: string, timeoutMs = 30_000) =>
  provider.runScript(ref, text, { timeoutMs, maxOutputBytes: 64 * 1024 });

describe.skipIf(missing !== undefined)(
  "docker provider on Podman's Docker-compatible service",
  { timeout: 120_000 },
  () => {
    beforeAll(async () => {
      podman = await startPodman();
      stateDir = await mkdtemp(join(tmpdir(), "teamstack-docker-"));
      logs = createFileServerLogs(stateDir);
      provider = createDockerProvider({
        localEndpoint: { kind: "unix", path: podman.dockerHost.slice("unix://".length) },
        defaultImage: podman.image,
        labels: Object.fromEntries([podman.label.split("=") as [string, string]]),
        logs,
        pullTimeoutMs: 5_000,
        followChecks: 50,
      });
    }, 180_000);

    afterAll(async () => {
      await podman?.stop();
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
    }, 120_000);

    it("creates servers in parallel, streams user_data's masked output to the log, and a repeated create returns the same container", async () => {
      const stack = `dk-a-${run}`;
      const [a, b] = await Promise.all([
        up(
          request(
            stack,
            "a",
            `echo hello from $TEAMSTACK_SERVER at $TEAMSTACK_IP\necho the secret is ${SECRET}\necho made > /root/made\n`,
          ),
        ),
        up(request(stack, "b", "echo b is up; exit 0\n", { type: "2cpu/256mb-ram" })),
      ]);
      expect(a.artifacts.IP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(a.artifacts.IP).not.toBe(b.artifacts.IP);
      expect(await Promise.all([provider.waitUntilReady(a.ref), provider.waitUntilReady(b.ref)])).toEqual([
        { ready: true },
        { ready: true },
      ]);
      const page = await logs.read({ team: "team", stackId: stack, subject: { kind: "server", name: "a" } });
      expect(page?.text).toContain(`hello from a at ${a.artifacts.IP}`);
      expect(page?.text).not.toContain(SECRET);
      expect(page?.complete).toBe(true);
      expect(page?.exitCode).toBe(0);

      const again = await provider.create(request(stack, "a", "echo never runs\n"));
      expect(again.Id).toBe(a.artifacts.Id);
      expect(await labelled(podman.engine, [`${LABELS.stack}=${stack}`, `${LABELS.server}=a`])).toMatchObject(
        {
          containers: 1,
        },
      );
      // user_data ran once: the repeated create started nothing.
      expect((await script(a.ref, "cat /var/lib/teamstack/output | grep -c hello")).output.trim()).toBe("1");

      // The size became the container's limits (cgroup v1 here: CFS quota per 100 ms period, memory).
      const limits = await script(
        b.ref,
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max",
      );
      expect(limits.exitCode).toBe(0);
      expect(limits.output).toMatch(/^(200000\n268435456|200000 100000\n268435456)\n$/);
      // A member's code gains no privileges (no_new_privs) and has a process limit of its own.
      const guard = await script(
        b.ref,
        "grep NoNewPrivs /proc/self/status; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
      );
      expect(guard.output).toBe(`NoNewPrivs:\t1\n${CONTAINER_PIDS_LIMIT}\n`);
    });

    it("reports a failing user_data with its exit code and output, and a missing image by name", async () => {
      const stack = `dk-f-${run}`;
      const { ref } = await up(request(stack, "bad", "echo about to fail\nfalse\necho not reached\n"));
      const result = await provider.waitUntilReady(ref);
      expect(result).toMatchObject({ ready: false, exitCode: 1 });
      expect(result.ready === false && result.output).toContain("about to fail");
      expect(result.ready === false && result.output).not.toContain("not reached");
      await expect(
        provider.create(
          request(stack, "img", "true\n", { options: { image: "localhost/teamstack-no-such-image:1" } }),
        ),
      ).rejects.toThrow(
        /image `localhost\/teamstack-no-such-image:1` is not on the Docker Engine at unix:\/\/.*could not be pulled/,
      );
      await provider.destroy(ref);
      expect(await labelled(podman.engine, [`${LABELS.stack}=${stack}`])).toEqual({
        containers: 0,
        networks: 0,
        volumes: 0,
      });
    });

    it("gives each stack its own network: servers of one reach each other by IP and name, another stack's cannot", async () => {
      const one = `dk-n1-${run}`;
      const two = `dk-n2-${run}`;
      const listen = "nc -ll -p 8080 -e echo pong > /dev/null 2>&1 &\n";
      const [srv, other] = await Promise.all([
        up(request(one, "srv", listen)),
        up(request(two, "stranger", listen)),
      ]);
      const peer = await up(request(one, "peer", "true\n"));
      await Promise.all([srv, other, peer].map((s) => provider.waitUntilReady(s.ref)));
      const byIp = await script(peer.ref, `nc -w 5 ${srv.artifacts.IP} 8080`);
      expect(byIp).toMatchObject({ exitCode: 0, output: "pong\n" });
      const byName = await script(peer.ref, "nc -w 5 srv 8080");
      expect(byName).toMatchObject({ exitCode: 0, output: "pong\n" });
      // The same listener from the other stack's network: refused or dropped, within nc's own bound
      // (scripts run with `sh -e`: the failure is caught to read its exit code).
      const across = await script(other.ref, `nc -w 2 ${srv.artifacts.IP} 8080 || echo "exit $?"`);
      expect(across.output).not.toContain("pong");
      expect(across.output).toMatch(/exit 1\n$/);
      // Concurrent destroys of a stack's servers race into no error and leave nothing.
      await Promise.all([srv, peer].map((s) => provider.destroy(s.ref)));
      await provider.destroy(other.ref);
      await provider.destroy(other.ref);
      for (const stack of [one, two]) {
        expect(await labelled(podman.engine, [`${LABELS.stack}=${stack}`])).toEqual({
          containers: 0,
          networks: 0,
          volumes: 0,
        });
      }
    });

    it("stops and starts a server natively, keeping what user_data wrote and what it left running ends", async () => {
      const stack = `dk-p-${run}`;
      const { ref, artifacts } = await up(request(stack, "box", "echo kept > /root/file\nsleep 1000 &\n"));
      expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
      expect((await script(ref, "ps | grep -v grep | grep -q 'sleep 1000' && echo running")).output).toBe(
        "running\n",
      );
      await provider.stop?.(ref);
      await provider.stop?.(ref);
      await expect(script(ref, "true")).rejects.toThrow(/is (exited|stopped|created).*start it first/);
      const started = await provider.start?.(ref);
      expect(started?.Id).toBe(artifacts.Id);
      expect((await script(ref, "cat /root/file")).output).toBe("kept\n");
      // user_data did not run again, and is still known to have succeeded.
      expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
      expect(
        (await script(ref, "ps | grep -v grep | grep -q 'sleep 1000' && echo running || echo gone")).output,
      ).toBe("gone\n");
      await provider.destroy(ref);
    });

    it("runs scripts through the Engine's exec: exit codes, output, environment and a time limit", async () => {
      const stack = `dk-s-${run}`;
      const { ref } = await up(request(stack, "s", "true\n"));
      await provider.waitUntilReady(ref);
      const r = await provider.runScript(ref, "echo out; echo err >&2; echo $GREETING; exit 7", {
        timeoutMs: 30_000,
        maxOutputBytes: 1024,
        env: { GREETING: "hi" },
      });
      expect(r).toEqual({ exitCode: 7, output: "out\nerr\nhi\n", truncated: false });
      const shebang = await script(ref, "#!/bin/sh\necho $0 | grep -c script");
      expect(shebang).toMatchObject({ exitCode: 0, output: "1\n" });
      const big = await provider.runScript(ref, "head -c 5000 /dev/zero | tr '\\0' x", {
        timeoutMs: 30_000,
        maxOutputBytes: 100,
      });
      expect(big.output).toBe("x".repeat(100));
      expect(big.truncated).toBe(true);
      const slow = await provider.runScript(ref, "sleep 30", { timeoutMs: 1_000, maxOutputBytes: 1024 });
      expect(slow.exitCode).toBe(124);
      await provider.destroy(ref);
    });

    it("opens a shell through the project's helper, with no docker CLI", async () => {
      const stack = `dk-sh-${run}`;
      const { ref } = await up(request(stack, "sh", "echo hi > /root/greeting\n"));
      await provider.waitUntilReady(ref);
      const cmd = await provider.shell?.(ref, "xterm");
      if (!cmd) throw new Error("no shell");
      const child = spawn(cmd.file, [...cmd.args], {
        ...cmd.options,
        env: { ...cmd.options.env, DOCKER_HOST: podman.dockerHost },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString("utf8");
      });
      child.stdin?.end("cat /root/greeting\nhostname\nexit 3\n");
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      expect(out).toContain("hi\n");
      expect(out).toContain("sh\n");
      expect(code).toBe(3);
      await provider.destroy(ref);
    });

    it("finds a team's Docker host through its credential, and says clearly when the engine is unreachable", async () => {
      const stack = `dk-c-${run}`;
      const credentials: ProviderCredentials = {
        async get(team, name, p) {
          if (team !== "team" || p !== "docker") return undefined;
          if (name === "mine") return { team, name, provider: p, fields: { endpoint: podman.dockerHost } };
          if (name === "nowhere")
            return { team, name, provider: p, fields: { endpoint: "unix:///nonexistent/docker.sock" } };
          return undefined;
        },
        async list() {
          return ["mine", "nowhere"];
        },
      };
      const remote = createDockerProvider({
        localEndpoint: { kind: "unix", path: "/nonexistent/local.sock" },
        defaultImage: "localhost/unused:1",
        credentials,
        labels: Object.fromEntries([podman.label.split("=") as [string, string]]),
      });
      const { artifacts } = await (async () => {
        const a = await remote.create(
          request(stack, "r", "echo remote\n", { options: { credential: "mine", image: podman.image } }),
        );
        return { artifacts: a };
      })();
      const ref = {
        team: "team",
        stackId: stack,
        server: "r",
        id: artifacts.Id,
        options: { credential: "mine", image: podman.image },
      };
      expect(await remote.waitUntilReady(ref)).toEqual({ ready: true });
      await remote.destroy(ref);
      expect(await labelled(podman.engine, [`${LABELS.stack}=${stack}`])).toEqual({
        containers: 0,
        networks: 0,
        volumes: 0,
      });
      await expect(remote.preflight("team", { credential: "nowhere" })).rejects.toThrow(
        /cannot reach the Docker Engine at unix:\/\/\/nonexistent\/docker.sock \(ENOENT\)/,
      );
      await expect(remote.preflight("team", {})).rejects.toThrow(
        /unix:\/\/\/nonexistent\/local.sock.*DOCKER_HOST/,
      );
      await expect(remote.preflight("team", { credential: "other" })).rejects.toThrow(
        /team `team` has no Docker credential `other`/,
      );
    });

    it("reaches a team's Docker host over TLS with the credential's CA, certificate and key, and refuses an engine the CA did not sign", async () => {
      // A TLS front for the Podman socket on 127.0.0.1 that asks for a client certificate: the
      // certificates are made in memory by openssl (printed, never written to a file).
      const selfSigned = (): { key: string; cert: string } => {
        const pem = execFileSync(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "-",
            "-out",
            "-",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-days",
            "1",
          ],
          { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
        );
        const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(pem)?.[0] ?? "";
        const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(pem)?.[0] ?? "";
        return { key, cert };
      };
      const server = selfSigned();
      const client = selfSigned();
      const stranger = selfSigned();
      const sockets = new Set<Socket>();
      const front: Server = createServer(
        {
          key: server.key,
          cert: server.cert,
          ca: client.cert,
          requestCert: true,
          rejectUnauthorized: true,
          allowHalfOpen: true,
        },
        (tls) => {
          const unix = connect({ path: podman.dockerHost.slice("unix://".length), allowHalfOpen: true });
          sockets.add(unix);
          sockets.add(tls);
          tls.pipe(unix);
          unix.pipe(tls);
          tls.on("error", () => unix.destroy());
          unix.on("error", () => tls.destroy());
        },
      );
      // Every connection, a failed handshake's too, so that close() below does not wait for one.
      front.on("connection", (raw: Socket) => sockets.add(raw));
      await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
      const port = (front.address() as { port: number }).port;
      const fields = {
        endpoint: `tcp://127.0.0.1:${port}`,
        ca: server.cert,
        cert: client.cert,
        key: client.key,
      };
      const credentials: ProviderCredentials = {
        async get(team, name, p) {
          if (name === "tls") return { team, name, provider: p, fields };
          if (name === "wrong-ca")
            return { team, name, provider: p, fields: { ...fields, ca: stranger.cert } };
          return undefined;
        },
        async list() {
          return ["tls", "wrong-ca"];
        },
      };
      const remote = createDockerProvider({
        localEndpoint: { kind: "unix", path: "/nonexistent/local.sock" },
        defaultImage: podman.image,
        credentials,
        labels: Object.fromEntries([podman.label.split("=") as [string, string]]),
      });
      try {
        const stack = `dk-t-${run}`;
        const options = { credential: "tls" };
        const artifacts = await remote.create(request(stack, "t", "echo over tls\n", { options }));
        const ref = { team: "team", stackId: stack, server: "t", id: artifacts.Id, options };
        expect(await remote.waitUntilReady(ref)).toEqual({ ready: true });
        const r = await remote.runScript(ref, "cat /var/lib/teamstack/output", {
          timeoutMs: 30_000,
          maxOutputBytes: 1024,
        });
        expect(r).toMatchObject({ exitCode: 0, output: "over tls\n" });
        await remote.destroy(ref);
        expect(await labelled(podman.engine, [`${LABELS.stack}=${stack}`])).toEqual({
          containers: 0,
          networks: 0,
          volumes: 0,
        });
        const refused = await remote.preflight("team", { credential: "wrong-ca" }).then(
          () => undefined,
          (err: unknown) => err as Error,
        );
        expect(refused?.message).toMatch(
          new RegExp(`cannot reach the Docker Engine at tcp://127.0.0.1:${port} \\(TLS\\)`),
        );
        expect(refused?.message).not.toContain("PRIVATE KEY");
      } finally {
        // The provider keeps idle connections open (keep-alive): closed here, or close() waits for them.
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => front.close(() => resolve()));
      }
    });
  },
);
