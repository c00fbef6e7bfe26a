import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { LocalStoreError } from "../../../src/local/dynamo/errors.ts";
import { isRunning, readDaemonInfo, storePaths } from "../../../src/local/dynamo/files.ts";
import { ensureLocalStore, type LocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import type { StackKey, StackRecord } from "../../../src/ports/store.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL("./local-client.ts", import.meta.url));

const stateDirs: string[] = [];
const handles: LocalStore[] = [];

async function freshStateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "teamstack-store-"));
  stateDirs.push(dir);
  return dir;
}

async function ensure(stateDir: string, options: { idleMs?: number } = {}): Promise<LocalStore> {
  const handle = await ensureLocalStore(stateDir, options);
  handles.push(handle);
  return handle;
}

afterEach(async () => {
  for (const h of handles.splice(0)) h.close();
  for (const dir of stateDirs.splice(0)) {
    await stopLocalStore(dir);
    await rm(dir, { recursive: true, force: true });
  }
});

function stack(key: StackKey): StackRecord {
  return {
    ...key,
    member: "ada",
    status: "RUNNING",
    run: 1,
    templateYaml: "servers: []\n",
    templateFile: "stack.yaml",
    templateHash: "h",
    userdata: {},
    simulate: ["aws"],
    createdAt: "2030-01-01T00:00:00.000Z",
    startedAt: "2030-01-01T00:00:00.000Z",
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs local-client.ts in its own node process. */
async function otherProcess(
  stateDir: string,
  key: StackKey,
): Promise<{ pid: number; member: string | null }> {
  const { stdout } = await run(process.execPath, [CLIENT, stateDir, key.team, key.stackId], {
    timeout: 20_000,
  });
  return JSON.parse(stdout) as { pid: number; member: string | null };
}

describe("local store daemon", () => {
  it("shares one daemon between concurrent ensureLocalStore calls in one process", async () => {
    const stateDir = await freshStateDir();
    const [a, b] = await Promise.all([ensure(stateDir), ensure(stateDir)]);
    expect(a.pid).toBe(b.pid);
    expect(a.socket).toBe(b.socket);
    expect((await readDaemonInfo(storePaths(stateDir).info))?.pid).toBe(a.pid);
    expect(existsSync(storePaths(stateDir).lock)).toBe(false);
  });

  it("shares one daemon between processes starting at once, and shows each the others' data", async () => {
    const stateDir = await freshStateDir();
    const key = { team: "t", stackId: "shared" };
    const started = await Promise.all([1, 2, 3].map(() => otherProcess(stateDir, key)));
    const pids = new Set(started.map((s) => s.pid));
    expect(pids.size).toBe(1);
    const local = await ensure(stateDir);
    expect(pids.has(local.pid)).toBe(true);
    await createDynamoStore({ client: local.client, tableName: local.tableName }).createStack(stack(key));
    expect(await otherProcess(stateDir, key)).toEqual({ pid: local.pid, member: "ada" });
  });

  it("starts a new daemon after the old one is SIGKILLed, with the data persisted", async () => {
    const stateDir = await freshStateDir();
    const key = { team: "t", stackId: "survivor" };
    const first = await ensure(stateDir);
    await createDynamoStore({ client: first.client, tableName: first.tableName }).createStack(stack(key));
    first.close();
    process.kill(first.pid, "SIGKILL");
    await waitUntil("the killed daemon is gone", async () => !(await isRunning(first.pid)));
    const second = await ensure(stateDir);
    expect(second.pid).not.toBe(first.pid);
    const store = createDynamoStore({ client: second.client, tableName: second.tableName });
    expect((await store.getStack(key))?.member).toBe("ada");
  });

  it("stops the daemon after the idle limit once no handle keeps it alive", async () => {
    const stateDir = await freshStateDir();
    const local = await ensure(stateDir, { idleMs: 800 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await isRunning(local.pid)).toBe(true); // the open handle pings it
    local.close();
    await waitUntil("the idle daemon exits", async () => !(await isRunning(local.pid)));
    expect(existsSync(storePaths(stateDir).info)).toBe(false);
    expect(await readFile(storePaths(stateDir).log, "utf8")).toMatch(/stopping \(no request for 800 ms\)/);
  });

  it("stops the daemon with stopLocalStore, cleanly, and says when there was none", async () => {
    const stateDir = await freshStateDir();
    const local = await ensure(stateDir);
    local.close();
    expect(await stopLocalStore(stateDir)).toBe(true);
    expect(await isRunning(local.pid)).toBe(false);
    expect(existsSync(storePaths(stateDir).info)).toBe(false);
    expect(await readFile(storePaths(stateDir).log, "utf8")).toMatch(/stopping \(SIGTERM\)[\s\S]*stopped/);
    expect(await stopLocalStore(stateDir)).toBe(false);
  });

  it("clears a lock left by a process that died while starting the daemon", async () => {
    const stateDir = await freshStateDir();
    const { stdout } = await run(process.execPath, ["-e", "console.log(process.pid)"]);
    const deadPid = Number(stdout.trim());
    await mkdir(storePaths(stateDir).dir, { recursive: true });
    await writeFile(storePaths(stateDir).lock, JSON.stringify({ pid: deadPid, token: "x", at: Date.now() }));
    await writeFile(
      storePaths(stateDir).info,
      JSON.stringify({ pid: deadPid, socket: storePaths(stateDir).socket, startedAt: "", idleMs: 1 }),
    );
    // The dead daemon's socket file is still there: the new one replaces it.
    await writeFile(storePaths(stateDir).socket, "");
    const local = await ensure(stateDir);
    expect(local.pid).not.toBe(deadPid);
  });

  it("fails with LocalStoreError naming daemon.log when the daemon cannot start", async () => {
    const stateDir = await freshStateDir();
    await mkdir(storePaths(stateDir).dir, { recursive: true });
    await writeFile(storePaths(stateDir).db, "not a LevelDB folder");
    const err = await ensureLocalStore(stateDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalStoreError);
    expect((err as Error).message).toContain(storePaths(stateDir).log);
    expect(existsSync(storePaths(stateDir).lock)).toBe(false);
  });

  it("listens on a 0600 unix socket in the 0700 store folder and on no TCP port", async () => {
    const stateDir = await freshStateDir();
    const local = await ensure(stateDir);
    const paths = storePaths(stateDir);
    expect(local.socket).toBe(paths.socket);
    const socket = await lstat(paths.socket);
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
    expect((await stat(paths.dir)).mode & 0o777).toBe(0o700);
    expect(await tcpListenersOf(local.pid)).toEqual([]);
  });

  it("reaches the daemon of a state directory too deep for a socket path through a short link", async () => {
    const base = await freshStateDir();
    const stateDir = join(base, ...Array.from({ length: 12 }, (_, i) => `a-rather-long-folder-name-${i}`));
    expect(Buffer.byteLength(storePaths(stateDir).socket)).toBeGreaterThan(107);
    const key = { team: "t", stackId: "deep" };
    const local = await ensure(stateDir);
    await createDynamoStore({ client: local.client, tableName: local.tableName }).createStack(stack(key));
    expect(Buffer.byteLength(local.socket)).toBeLessThanOrEqual(107);
    // The link's folder is this user's alone; the socket itself is the one in the store folder.
    const links = join(local.socket, "..", "..");
    expect((await lstat(links)).mode & 0o777).toBe(0o700);
    expect(await readlink(join(local.socket, ".."))).toBe(storePaths(stateDir).dir);
    expect((await lstat(storePaths(stateDir).socket)).isSocket()).toBe(true);
    // Another process finds the same daemon and the same data.
    expect(await otherProcess(stateDir, key)).toEqual({ pid: local.pid, member: "ada" });
    local.close();
    // A daemon that stops takes its link away.
    expect(await stopLocalStore(stateDir)).toBe(true);
    expect(await lstat(join(local.socket, "..")).catch(() => undefined)).toBeUndefined();
  });
});

/** The TCP sockets process `pid` listens on (from /proc/net/tcp and tcp6, matched by inode). */
async function tcpListenersOf(pid: number): Promise<string[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1] as string);
  }
  const out: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = (await readFile(table, "utf8").catch(() => "")).split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // st 0A is LISTEN; field 9 is the inode.
      if (f[3] === "0A" && inodes.has(f[9] as string)) out.push(`${table} ${f[1]}`);
    }
  }
  return out;
}
