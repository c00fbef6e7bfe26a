import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileServerLogs } from "../../../src/local/server-logs.ts";
import type { CreateServerRequest, Provider } from "../../../src/ports/provider.ts";
import type { ServerLogs } from "../../../src/ports/server-logs.ts";
import { preflight } from "../../../src/providers/ssh/factory.ts";
import { fingerprint, parseServerId } from "../../../src/providers/ssh/hosts.ts";
import { createSshProvider } from "../../../src/providers/ssh/ssh-provider.ts";
import { fixedCredentials, sshdTestsRun, startSshd, type TestSshd } from "../../support/sshd.ts";

// The ssh provider against a real OpenSSH server in a network namespace of its own (one per
// file). The namespace shares this machine's files and processes, so the tests check the
// "remote" directories and processes directly.

const RUNS = sshdTestsRun("ssh provider tests");
const run = randomBytes(3).toString("hex");
const TEAM = "test";

let sshd: TestSshd;
let stateDir: string;
let logs: ServerLogs;
let credentials: ReturnType<typeof fixedCredentials>;
let provider: Provider & { close(): void };
let root: string;

function request(
  server: string,
  userData: string,
  extra: Partial<CreateServerRequest> = {},
): CreateServerRequest {
  return {
    stackId: `it-${run}`,
    team: TEAM,
    member: "ada",
    server,
    type: "host",
    options: {},
    userData,
    idempotencyToken: `it-${run}.${server}.1`,
    ...extra,
  };
}

/** The directory of a server on the test host, from its Id. */
function dirOf(id: string): string {
  return join(root, parseServerId(id)?.dir ?? "none");
}

/** Whether a process runs (and is not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Waits for a file to exist: user_data writes its pids there as it starts them. */
async function fileOf(path: string, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      if (text.endsWith("\n")) return text;
    }
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!RUNS)("ssh provider on a real sshd", () => {
  beforeAll(async () => {
    sshd = await startSshd("prov");
    root = join(sshd.home, "servers");
    stateDir = mkdtempSync(join(tmpdir(), "teamstack-ssh-state-"));
    logs = createFileServerLogs(stateDir);
    credentials = fixedCredentials({ box: sshd.fields() }, TEAM);
    provider = createSshProvider({ credentials, logs });
  }, 120_000);

  afterAll(async () => {
    provider?.close();
    await sshd?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  it("creates a server in its own directory, keeps user_data's output masked and reports ready", async () => {
    const secret = `s3cret-${run}`;
    const req = request(
      "web",
      `echo "hello from $TEAMSTACK_SERVER in $(pwd)"\necho "token ${secret}"\necho written > here.txt\necho to-stderr >&2\n`,
      { secrets: [secret] },
    );
    const artifacts = await provider.create(req);
    expect(artifacts).toMatchObject({ IP: sshd.address, Provider: "ssh", Type: "host", Region: "box" });
    expect(artifacts.Id).toMatch(/^box\/ts-[0-9a-f]{12}-[0-9a-f]{8}$/);
    expect(
      await provider.waitUntilReady({ team: TEAM, stackId: req.stackId, server: "web", id: artifacts.Id }),
    ).toEqual({
      ready: true,
    });
    const dir = dirOf(artifacts.Id);
    expect(readFileSync(join(dir, "here.txt"), "utf8")).toBe("written\n");
    expect(statSync(dir).uid).toBe(sshd.uid);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const page = await logs.read({
      team: TEAM,
      stackId: req.stackId,
      subject: { kind: "server", name: "web" },
    });
    expect(page?.complete).toBe(true);
    expect(page?.exitCode).toBe(0);
    expect(page?.text).toContain(`hello from web in ${dir}`);
    expect(page?.text).toContain("to-stderr");
    expect(page?.text).not.toContain(secret);
    // user_data never lands in a file on the host: only teamstack's small records are there.
    expect(readdirSync(join(dir, ".teamstack")).sort()).toEqual(
      ["boot", "exit", "output", "pid", "server", "stack", "team", "token"].sort(),
    );
    expect(execFileSync("grep", ["-rl", secret, dir], { encoding: "utf8" }).trim()).toBe(
      join(dir, ".teamstack/output"),
    );
  }, 60_000);

  it("creates nothing new when create is repeated with the same token", async () => {
    const req = request("again", "echo once >> runs.txt\n");
    const first = await provider.create(req);
    const pid = readFileSync(join(dirOf(first.Id), ".teamstack/pid"), "utf8");
    await provider.waitUntilReady({ team: TEAM, stackId: req.stackId, server: "again", id: first.Id });
    const [second, third] = await Promise.all([provider.create(req), provider.create(req)]);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(readFileSync(join(dirOf(first.Id), ".teamstack/pid"), "utf8")).toBe(pid);
    expect(readFileSync(join(dirOf(first.Id), "runs.txt"), "utf8")).toBe("once\n");
    const prefix = parseServerId(first.Id)?.dir.slice(0, 16) as string;
    expect(readdirSync(root).filter((d) => d.startsWith(prefix))).toHaveLength(1);
  }, 60_000);

  it("reports a failing user_data with its exit code and output, also after a restart of teamstack", async () => {
    const req = request("bad", "echo about to fail\nexit 7\n");
    const created = await provider.create(req);
    const ref = { team: TEAM, stackId: req.stackId, server: "bad", id: created.Id };
    const result = await provider.waitUntilReady(ref);
    expect(result).toMatchObject({ ready: false, exitCode: 7 });
    expect(result.ready === false && result.output).toContain("about to fail");
    // Another process (teamstack started again) finds the same answer from the host's files.
    const other = createSshProvider({ credentials });
    try {
      expect(await other.waitUntilReady(ref)).toMatchObject({ ready: false, exitCode: 7 });
    } finally {
      other.close();
    }
  }, 60_000);

  it("refuses a host whose key is not the pinned one, naming the expected and the received fingerprint", async () => {
    const otherKeyFile = join(sshd.dir, "other_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKeyFile]);
    const pinned = readFileSync(`${otherKeyFile}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const fp = (file: string) =>
      execFileSync("ssh-keygen", ["-lf", file], { encoding: "utf8" }).split(" ")[1] as string;
    const expected = fp(`${otherKeyFile}.pub`);
    const received = fp(join(sshd.dir, "host_key.pub"));
    expect(fingerprint(pinned.split(" ")[1] as string)).toBe(expected);
    credentials.hosts.spoofed = sshd.fields({ hostKey: pinned });
    const req = request("spoof", "echo should-not-run > ran.txt\n", { options: { host: "spoofed" } });
    const err = await provider
      .create(req)
      .catch((e: unknown) => e as Error)
      .finally(() => delete credentials.hosts.spoofed);
    expect(err.name).toBe("SshHostKeyError");
    expect(err.message).toContain(`presented the host key ${received}, not the pinned ${expected}`);
    // Nothing was run or made.
    expect(readdirSync(root).some((d) => existsSync(join(root, d, "ran.txt")))).toBe(false);
  }, 60_000);

  it("destroy ends every process of the server, daemonized ones included, and removes its directory and nothing else", async () => {
    const neighbour = await provider.create(request("neighbour", "sleep 1000 &\necho $! > pids\n"));
    await provider.waitUntilReady({
      team: TEAM,
      stackId: `it-${run}`,
      server: "neighbour",
      id: neighbour.Id,
    });
    const beside = join(root, "keep-me.txt");
    writeFileSync(beside, "not the server's\n");
    const userData = [
      "sleep 1001 &",
      "echo $! > pids",
      // Out of the process group and the session: found by its environment mark.
      "setsid sh -c 'sleep 1002 & echo $! >> pids; wait' < /dev/null > /dev/null 2>&1 &",
      // Out of the session, without the mark: found by its working directory.
      `setsid env -i sh -c 'cd "$1" && sleep 1003 & echo $! >> "$1/pids"; wait' x "$(pwd)" < /dev/null > /dev/null 2>&1 &`,
      "while [ $(wc -l < pids) -lt 3 ]; do sleep 0.05; done",
      "cp pids pids.done",
      "",
    ].join("\n");
    const created = await provider.create(request("victim", userData));
    const ref = { team: TEAM, stackId: `it-${run}`, server: "victim", id: created.Id };
    expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
    const dir = dirOf(created.Id);
    const pids = (await fileOf(join(dir, "pids.done"))).trim().split("\n").map(Number);
    expect(pids).toHaveLength(3);
    const runner = Number(readFileSync(join(dir, ".teamstack/pid"), "utf8"));
    const session = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[3];
    expect(session(pids[0] as number)).toBe(String(runner));
    expect(session(pids[1] as number)).not.toBe(String(runner));
    expect(pids.every(alive)).toBe(true);
    const neighbourPid = Number(readFileSync(join(dirOf(neighbour.Id), "pids"), "utf8"));

    await provider.destroy(ref);
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync(beside, "utf8")).toBe("not the server's\n");
    expect(alive(neighbourPid)).toBe(true);
    expect(existsSync(dirOf(neighbour.Id))).toBe(true);
    // Twice is fine; so is a destroy whose id was lost (found again from the token).
    await provider.destroy(ref);
    await provider.destroy({ ...ref, server: "neighbour", id: "", token: `it-${run}.neighbour.1` });
    expect(alive(neighbourPid)).toBe(false);
    expect(existsSync(dirOf(neighbour.Id))).toBe(false);
  }, 90_000);

  it("runs scripts in the server's directory with its exit code, output and time limit", async () => {
    const created = await provider.create(request("scripted", "echo ready\n"));
    const ref = { team: TEAM, stackId: `it-${run}`, server: "scripted", id: created.Id };
    await provider.waitUntilReady(ref);
    const opts = { timeoutMs: 20_000, maxOutputBytes: 1000 };
    const r = await provider.runScript(ref, 'pwd; echo "$TEAMSTACK_SERVER $EXTRA"; echo err >&2; exit 3\n', {
      ...opts,
      env: { EXTRA: "x y" },
    });
    expect(r).toEqual({ exitCode: 3, output: `${dirOf(created.Id)}\nscripted x y\nerr\n`, truncated: false });
    const py = await provider.runScript(ref, "#!/bin/sh -e\necho shebang $0\n", opts);
    expect(py.output).toBe("shebang /dev/fd/3\n");
    const big = await provider.runScript(ref, "head -c 5000 /dev/zero | tr '\\0' a\n", opts);
    expect(big).toMatchObject({ exitCode: 0, truncated: true });
    expect(big.output).toHaveLength(1000);
    // A background child keeps the channel open: the answer comes anyway.
    const bg = await provider.runScript(ref, "sleep 600 &\necho started\n", opts);
    expect(bg).toMatchObject({ exitCode: 0, output: "started\n" });
    const slow = await provider.runScript(ref, "echo before; sleep 600\n", { ...opts, timeoutMs: 1000 });
    expect(slow.exitCode).toBe(124);
    expect(slow.output).toContain("before\n");
    expect(slow.output).toContain("ran longer than 1000 ms");
    await provider.destroy(ref);
    await expect(provider.runScript(ref, "true\n", opts)).rejects.toThrow(/does not exist/);
  }, 90_000);

  it("opens a shell in the server's directory and cleans up after it", async () => {
    const created = await provider.create(request("shelled", "true\n"));
    const ref = { team: TEAM, stackId: `it-${run}`, server: "shelled", id: created.Id };
    await provider.waitUntilReady(ref);
    const shell = await (provider.shell as NonNullable<Provider["shell"]>)(ref, "xterm");
    const agentDir = (shell.args.find((a) => a.startsWith("IdentityAgent=")) as string).slice(
      14,
      -"/agent".length,
    );
    expect(statSync(agentDir).mode & 0o777).toBe(0o700);
    const out = await new Promise<string>((resolve) => {
      const child = spawn(shell.file, [...shell.args], { ...shell.options, stdio: ["pipe", "pipe", "pipe"] });
      let text = "";
      child.stdout?.on("data", (c: Buffer) => {
        text += c.toString();
      });
      child.stdin?.end('echo "at $(pwd) as $TEAMSTACK_SERVER_ID"\nexit\n');
      child.on("close", () => resolve(text));
    });
    expect(out).toContain(`at ${dirOf(created.Id)} as ${parseServerId(created.Id)?.dir}`);
    await shell.cleanup?.();
    expect(existsSync(agentDir)).toBe(false);
    await provider.destroy(ref);
  }, 60_000);

  it("preflight names the servers whose host the team has not registered, and how to register one", async () => {
    const servers = [
      { name: "a", provider: "ssh", type: "host", options: { host: "nowhere" } },
      { name: "b", provider: "ssh", type: "host", options: {} },
    ] as never;
    await expect(preflight({ team: TEAM, servers }, { credentials })).rejects.toThrow(
      /team `test` has no ssh host `nowhere` \(used by a\): register one: PUT \/teams\/test\/credentials\/NAME with "provider": "ssh"/,
    );
    await expect(preflight({ team: "empty", servers }, { credentials })).rejects.toThrow(
      /team `empty` has no ssh host `nowhere`/,
    );
    await expect(
      preflight(
        { team: "empty", servers: [{ name: "b", provider: "ssh", type: "host", options: {} }] as never },
        { credentials },
      ),
    ).rejects.toThrow(/servers b run on one of team `empty`'s ssh hosts, and it has registered none/);
    await preflight(
      { team: TEAM, servers: [{ name: "b", provider: "ssh", type: "host", options: {} }] as never },
      { credentials },
    );
  });
});
