import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DockerEngine } from "../../src/providers/docker/engine.ts";

/**
 * A Docker-compatible engine for the tests: Podman's own service (`podman system service`) on a
 * socket of its own, with the settings this kind of machine needs (runc, cgroupfs, ulimits no
 * higher than the machine's), and a busybox image built from Debian's busybox-static, cached in
 * Podman's default storage between runs (its tag holds a hash of the recipe and of the binary).
 * Everything a test makes carries the label `teamstack.test=<run>`, which `cleanup` removes.
 */

const run = promisify(execFile);

export interface PodmanService {
  /** The service's socket, as DOCKER_HOST. */
  readonly dockerHost: string;
  readonly image: string;
  /** The label (`k=v`) on everything this service's tests make. */
  readonly label: string;
  readonly engine: DockerEngine;
  /** Environment for a teamstack process using this engine. */
  readonly env: Record<string, string>;
  /** Removes every container, network and volume with this run's label. */
  cleanup(): Promise<void>;
  /** Cleans up and ends the service. */
  stop(): Promise<void>;
}

const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`;

const BUSYBOX = "/bin/busybox";
const IMAGE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
/** Bump to rebuild the cached image. */
const RECIPE = `busybox-static rootfs v1; applets linked; PATH=${IMAGE_PATH}`;

async function which(tool: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why this machine cannot run the docker tests (podman, runc or busybox-static missing), or
 * undefined when it can. Under CI a missing tool is a failure, not a skip.
 */
export async function podmanMissing(): Promise<string | undefined> {
  const missing: string[] = [];
  for (const tool of ["podman", "runc"]) if (!(await which(tool))) missing.push(tool);
  if (
    !(await readFile(BUSYBOX).then(
      () => true,
      () => false,
    ))
  )
    missing.push("busybox-static");
  if (missing.length === 0) return undefined;
  const why = `the docker tests need ${missing.join(", ")} (apt-get install podman runc busybox-static)`;
  if (process.env.CI) throw new Error(why);
  return why;
}

/** Starts the service and makes sure the test image exists. */
export async function startPodman(): Promise<PodmanService> {
  const dir = await mkdtemp(join(tmpdir(), "teamstack-podman-"));
  const conf = join(dir, "containers.conf");
  await writeFile(conf, CONTAINERS_CONF);
  const socket = join(dir, "podman.sock");
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const child = spawn("podman", ["system", "service", "--time=0", `unix://${socket}`], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let said = "";
  child.stderr?.on("data", (c: Buffer) => {
    said = (said + c.toString("utf8")).slice(-4000);
  });
  const engine = new DockerEngine({ kind: "unix", path: socket });
  try {
    await waitForPing(engine, child, () => said);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const image = await ensureImage(engine, socket, env);
  const label = `teamstack.test=${process.pid}-${Date.now().toString(36)}`;
  const cleanup = () => removeLabelled(engine, label);
  return {
    dockerHost: `unix://${socket}`,
    image,
    label,
    engine,
    env: {
      DOCKER_HOST: `unix://${socket}`,
      TEAMSTACK_DOCKER_IMAGE: image,
      TEAMSTACK_DOCKER_LABELS: label,
    },
    cleanup,
    async stop() {
      try {
        await cleanup();
      } finally {
        engine.close();
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Polls `_ping` while the socket refuses (the service is still starting), up to 60 s; fails at once if it exits. */
async function waitForPing(engine: DockerEngine, child: ChildProcess, said: () => string): Promise<void> {
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = `exited (${code ?? signal})`;
  });
  const until = Date.now() + 60_000;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    if (exited) throw new Error(`podman system service ${exited}: ${said().trim()}`);
    try {
      const ping = await engine.call("GET", "/_ping", { timeoutMs: 5_000 });
      if (ping.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until)
      throw new Error(`podman system service did not answer within 60 s: ${said().trim()}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function imageTag(): Promise<string> {
  const hash = createHash("sha256")
    .update(RECIPE)
    .update(await readFile(BUSYBOX))
    .digest("hex")
    .slice(0, 12);
  return `localhost/teamstack-test-busybox:${hash}`;
}

/**
 * The test image, built once: test files starting at the same time take a lock (a directory made
 * atomically) and the others find the image made.
 */
async function ensureImage(engine: DockerEngine, socket: string, env: NodeJS.ProcessEnv): Promise<string> {
  const tag = await imageTag();
  const exists = async () =>
    (await engine.call("GET", `/images/${encodeURIComponent(tag)}/json`)).status === 200;
  if (await exists()) return tag;
  const lock = join(tmpdir(), "teamstack-test-busybox.lock");
  const until = Date.now() + 120_000;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (await exists()) return tag;
      if (Date.now() > until) {
        // Its holder died: take it over.
        await rmdir(lock).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  try {
    if (await exists()) return tag;
    const dir = await mkdtemp(join(tmpdir(), "teamstack-busybox-"));
    try {
      const root = join(dir, "rootfs");
      for (const d of ["bin", "etc", "root", "tmp", "var", "proc", "sys", "dev", "run"]) {
        await mkdir(join(root, d), { recursive: true });
      }
      await copyFile(BUSYBOX, join(root, "bin/busybox"));
      const { stdout } = await run(BUSYBOX, ["--list"]);
      for (const applet of stdout.split("\n").map((l) => l.trim())) {
        if (applet === "" || applet === "busybox" || applet.includes("/")) continue;
        await symlink("busybox", join(root, "bin", applet)).catch(() => undefined);
      }
      await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
      await writeFile(join(root, "etc/group"), "root:x:0:\n");
      const tar = join(dir, "rootfs.tar");
      await run("tar", ["-C", root, "-cf", tar, "."]);
      await run(
        "podman",
        ["--url", `unix://${socket}`, "import", "--change", `ENV=PATH=${IMAGE_PATH}`, tar, tag],
        {
          env,
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return tag;
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}

/** Removes every container, network and volume labelled `label`. */
export async function removeLabelled(engine: DockerEngine, label: string): Promise<void> {
  const filters = JSON.stringify({ label: [label] });
  const containers = await engine.json<{ Id: string }[]>("GET", "/containers/json", {
    query: { all: true, filters },
  });
  await Promise.all(
    containers.map((c) => engine.call("DELETE", `/containers/${c.Id}`, { query: { force: true, v: true } })),
  );
  const networks = await engine.json<{ Name: string }[]>("GET", "/networks", { query: { filters } });
  await Promise.all(networks.map((n) => engine.call("DELETE", `/networks/${n.Name}`)));
  const volumes = await engine.json<{ Volumes?: { Name: string }[] | null }>("GET", "/volumes", {
    query: { filters },
  });
  await Promise.all((volumes.Volumes ?? []).map((v) => engine.call("DELETE", `/volumes/${v.Name}`)));
}

/** What this service's tests left: containers, networks and volumes with `labels` (k=v each). */
export async function labelled(
  engine: DockerEngine,
  labels: readonly string[],
): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = JSON.stringify({ label: labels });
  const containers = await engine.json<unknown[]>("GET", "/containers/json", {
    query: { all: true, filters },
  });
  const networks = await engine.json<unknown[]>("GET", "/networks", { query: { filters } });
  const volumes = await engine.json<{ Volumes?: unknown[] | null }>("GET", "/volumes", {
    query: { filters },
  });
  return {
    containers: containers.length,
    networks: networks.length,
    volumes: (volumes.Volumes ?? []).length,
  };
}
