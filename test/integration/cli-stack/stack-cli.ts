import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureLocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import type { StackEvent, StackKey } from "../../../src/ports/store.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";

// Helpers for driving `bin/teamstack.js` as real child processes and for looking at what a stack
// left on this machine: sandbox directories, holder processes, address leases, mounts.

import { BIN, type CliResult, cliEnv, finalJson, ROOT, runCli } from "../../support/cli.ts";

export { BIN, type CliResult, finalJson, ROOT, runCli };

/** ISO 8601 in UTC with milliseconds, as the store writes it. */
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

if (Number(process.versions.node.split(".")[0]) < 24) {
  // An older Node would make bin/teamstack.js hand over to a second process, and a SIGKILL would
  // then hit the wrong one.
  throw new Error(`run these tests with Node 24 (npx vitest); this is ${process.version}`);
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  /** What it has printed on stderr so far. */
  readonly stderr: () => string;
}

/**
 * Starts `teamstack ARGS` without waiting for it; it is SIGKILLed after `timeoutMs` at the latest
 * (a hang: generous, so that a busy machine is not taken for one).
 */
export function startCli(args: readonly string[], timeoutMs = 120_000): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: cliEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stderr: () => stderr };
}

/** Describes a result for an assertion message. */
export function shown(r: CliResult): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/** Runs a command that must succeed and returns its parsed JSON output. */
export async function cliJson<T>(args: readonly string[]): Promise<T> {
  const r = await runCli(args, 60_000);
  if (r.code !== 0) throw new Error(`teamstack ${args.join(" ")}: ${shown(r)}`);
  return finalJson<T>(r.stdout);
}

export interface ListRow {
  readonly stackId: string;
  readonly status: string;
  readonly team: string;
  readonly member: string;
  readonly startedAt: string;
}

export function listStacks(stateDir: string): Promise<ListRow[]> {
  return cliJson<ListRow[]>(["list", "--json", "--state-dir", stateDir]);
}

export function stackStatus(stateDir: string, stackId: string): Promise<StackStatusView> {
  return cliJson<StackStatusView>(["status", stackId, "--json", "--state-dir", stateDir]);
}

export type Server = StackStatusView["servers"][number];

export function serverOf(view: StackStatusView, name: string): Server {
  const s = view.servers.find((x) => x.name === name);
  if (!s) throw new Error(`stack ${view.stackId} has no server ${name}: ${JSON.stringify(view.servers)}`);
  return s;
}

/** A stack's events, read from the state directory's store (which the CLI does not print with --json). */
export async function stackEvents(stateDir: string, key: StackKey): Promise<StackEvent[]> {
  const local = await ensureLocalStore(stateDir);
  try {
    return await createDynamoStore({ client: local.client, tableName: local.tableName }).listEvents(key);
  } finally {
    local.close();
  }
}

/** Makes a state directory of its own under the system's temp directory. */
export function tempStateDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `teamstack-${label}-`));
}

/** A process that belongs to a sandbox of `stateDir`: its holder, or the holder's `bwrap`. */
export interface SandboxProcess {
  readonly pid: number;
  readonly ppid: number;
  /** `holder` (the Node process outside the sandbox) or `bwrap` (its child, which runs the sandbox). */
  readonly kind: "holder" | "bwrap";
  /** The sandbox directory its holder runs in. */
  readonly dir: string;
}

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly argv: string[];
}

async function processInfo(entry: string): Promise<ProcInfo | undefined> {
  try {
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0");
    const stat = await readFile(`/proc/${entry}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie has exited: it holds nothing.
    if (fields[0] === "Z") return undefined;
    return { pid: Number(entry), ppid: Number(fields[1]), argv };
  } catch {
    return undefined; // It exited while we looked.
  }
}

/** Every sandbox holder whose working directory lies under `stateDir`, and the `bwrap` each runs. */
export async function sandboxProcesses(stateDir: string): Promise<SandboxProcess[]> {
  const all = (
    await Promise.all((await readdir("/proc")).filter((e) => /^\d+$/.test(e)).map(processInfo))
  ).filter((p): p is ProcInfo => p !== undefined);
  const holders = new Map<number, SandboxProcess>();
  for (const p of all) {
    if (!p.argv.includes("teamstack-holder")) continue;
    const cwd = await readlink(`/proc/${p.pid}/cwd`).catch(() => "");
    const dir = cwd.replace(/ \(deleted\)$/, "");
    if (dir !== stateDir && !dir.startsWith(`${stateDir}/`)) continue;
    holders.set(p.pid, { pid: p.pid, ppid: p.ppid, kind: "holder", dir });
  }
  const out = [...holders.values()];
  for (const p of all) {
    const holder = holders.get(p.ppid);
    if (holder && (p.argv[0] ?? "").endsWith("bwrap")) {
      out.push({ pid: p.pid, ppid: p.ppid, kind: "bwrap", dir: holder.dir });
    }
  }
  return out;
}

/** Per sandbox directory: its live holders, and the `bwrap` processes they run. */
export async function liveSandboxes(
  stateDir: string,
  stackId: string,
): Promise<Map<string, { holders: number[]; bwraps: number[] }>> {
  const procs = await sandboxProcesses(join(stateDir, "sandboxes", stackId));
  const byServer = new Map<string, { holders: number[]; bwraps: number[] }>();
  for (const p of procs) {
    const server = p.dir.slice(join(stateDir, "sandboxes", stackId).length + 1);
    const entry = byServer.get(server) ?? { holders: [], bwraps: [] };
    if (p.kind === "holder") entry.holders.push(p.pid);
    else entry.bwraps.push(p.pid);
    byServer.set(server, entry);
  }
  return byServer;
}

/** The directories under `<stateDir>/sandboxes/<stackId>/` (none when it does not exist). */
export async function sandboxDirs(stateDir: string, stackId: string): Promise<string[]> {
  const entries = await readdir(join(stateDir, "sandboxes", stackId), { withFileTypes: true }).catch(
    () => [],
  );
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Every entry (files and directories, recursively) under `<stateDir>/sandboxes/<stackId>/`. */
export async function sandboxFiles(stateDir: string, stackId: string): Promise<string[]> {
  return readdir(join(stateDir, "sandboxes", stackId), { recursive: true }).catch(() => []);
}

/** The holder's host PID recorded by a complete sandbox, if it is complete. */
export async function recordedHolder(
  stateDir: string,
  stackId: string,
  server: string,
): Promise<number | undefined> {
  const text = await readFile(join(stateDir, "sandboxes", stackId, server, "sandbox.json"), "utf8").catch(
    () => undefined,
  );
  return text === undefined ? undefined : (JSON.parse(text) as { holder: { pid: number } }).holder.pid;
}

/** The address leases a stack holds: address → server. */
export async function leasesOf(stateDir: string, stackId: string): Promise<Map<string, string>> {
  const dir = join(stateDir, "addresses");
  const out = new Map<string, string>();
  for (const name of await readdir(dir).catch(() => [])) {
    // Leases are named by their address; a writer SIGKILLed mid-write leaves a `.tmp` file, which
    // the provider ignores as well.
    if (!/^127\.\d+\.\d+\.\d+$/.test(name)) continue;
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    try {
      const lease = JSON.parse(text) as { stackId?: string; server?: string };
      if (lease.stackId === stackId) out.set(name, lease.server ?? "");
    } catch {
      // A lease being written.
    }
  }
  return out;
}

/** The lines of this process's mount table that mention `path`. */
export async function mountsMentioning(path: string): Promise<string[]> {
  return (await readFile("/proc/self/mountinfo", "utf8")).split("\n").filter((l) => l.includes(path));
}

/** The sim provider's record of every server of a stack: server → attempts made. */
export async function simAttempts(stateDir: string, stackId: string): Promise<Map<string, number>> {
  const dir = join(stateDir, "sim");
  const out = new Map<string, number>();
  for (const name of await readdir(dir).catch(() => [])) {
    if (!name.endsWith(".json")) continue;
    const text = await readFile(join(dir, name), "utf8").catch(() => "");
    try {
      const file = JSON.parse(text) as { stackId: string; server: string; attempts: number };
      if (file.stackId === stackId) out.set(file.server, file.attempts);
    } catch {
      // Being written.
    }
  }
  return out;
}

/** The pause between two polls of `until`. */
function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every 15 ms until it returns a value, or throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(15);
  }
}

/**
 * Tears a state directory down: `down` of every stack in it, then stops its store daemon and
 * removes it.
 * @throws Error naming what survived: a stack that did not go down, or a holder process (which
 * it kills by pid first, so that nothing outlives the test).
 */
export async function tearDown(stateDir: string): Promise<void> {
  const problems: string[] = [];
  const rows = await listStacks(stateDir).catch((err: unknown) => {
    problems.push(`list: ${(err as Error).message}`);
    return [] as ListRow[];
  });
  await Promise.all(
    rows
      .filter((row) => row.status !== "DESTROYED")
      .map(async (row) => {
        const r = await runCli(["down", row.stackId, "--state-dir", stateDir], 120_000);
        if (r.code !== 0) problems.push(`down ${row.stackId}: ${shown(r)}`);
      }),
  );
  await stopLocalStore(stateDir);
  const left = await sandboxProcesses(stateDir);
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  if (left.length > 0) problems.push(`holder processes survived: ${JSON.stringify(left)}`);
  await rm(stateDir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`tearing down ${stateDir}: ${problems.join("\n")}`);
}
