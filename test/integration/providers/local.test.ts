import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  CreateServerRequest,
  Provider,
  ServerArtifacts,
  ServerRef,
} from "../../../src/ports/provider.ts";
import {
  checkLocalSupport,
  createLocalProvider,
  detectLocalSupport,
} from "../../../src/providers/local/index.ts";
import { MAX_SANDBOX_PROCESSES } from "../../../src/providers/local/sandbox.ts";

// Real sandboxes: these tests need a machine where `checkLocalSupport` passes (root, or
// unprivileged user namespaces). Elsewhere they are skipped, and the reason is printed.
const support = await detectLocalSupport().catch((err: unknown) => err as Error);
if (support instanceof Error) console.warn(`skipping local provider tests: ${support.message}`);

// A sandbox sees the host's /usr and nothing else of it: its servers use a `node` installed there.
const NODE = ["/usr/local/bin/node", "/usr/bin/node"].find((p) => existsSync(p));
if (!NODE) console.warn("skipping local provider tests: they run a node from /usr/bin or /usr/local/bin");
// CI installs what sandboxes need (.ci/run): there, a missing piece is a failure, not a skip.
if (process.env.CI && (support instanceof Error || !NODE))
  throw new Error(
    `local provider tests cannot run in CI: ${support instanceof Error ? support.message : "no node in /usr"}`,
  );
const PORT = 8080;
const run = randomBytes(3).toString("hex");
const stackId = `it-${run}`;

let stateDir: string;
let provider: Provider;
const made: ServerRef[] = [];
const children: ChildProcess[] = [];

function request(
  server: string,
  userData: string,
  token = `${server}#1`,
  secrets?: string[],
): CreateServerRequest {
  return {
    ...(secrets ? { secrets } : {}),
    stackId,
    team: "team",
    member: "ada",
    server,
    type: "sandbox",
    options: {},
    userData,
    idempotencyToken: token,
  };
}

async function create(
  p: Provider,
  req: CreateServerRequest,
): Promise<{ artifacts: ServerArtifacts; ref: ServerRef }> {
  const artifacts = await p.create(req);
  const ref = { stackId: req.stackId, server: req.server, id: artifacts.Id };
  made.push(ref);
  return { artifacts, ref };
}

function sandboxDir(server: string): string {
  return join(stateDir, "sandboxes", stackId, server);
}

interface Record {
  readonly id: string;
  readonly uid: number;
  readonly holder: {
    pid: number;
    startTime: string;
    bwrap: { pid: number };
    init: { pid: number };
    pidNamespace: string;
  };
}
function recordOf(server: string): Record {
  return JSON.parse(readFileSync(join(sandboxDir(server), "sandbox.json"), "utf8")) as Record;
}

/** Host PIDs of every process in the given PID namespace. */
function processesIn(pidNamespace: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/pid`) === pidNamespace;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function processExists(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    return state !== undefined && state !== "Z";
  } catch {
    return false;
  }
}

/** Connects from the host and returns what the server says. */
function fetchGreeting(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    connect(PORT, ip)
      .on("data", (d) => {
        text += d.toString();
      })
      .on("end", () => resolve(text))
      .on("error", reject);
  });
}

/** user_data that starts a greeting server on the sandbox's IP in the background and waits for it to listen. */
const SERVE = `
echo "server=$TEAMSTACK_SERVER ip=$TEAMSTACK_IP stack=$TEAMSTACK_STACK_ID home=$HOME" > /etc/config
echo run >> /srv/runs
nohup ${NODE} -e 'require("net").createServer((c) => c.on("error", () => {}).end("hello from " + require("os").hostname())).listen(${PORT}, process.env.TEAMSTACK_IP)' > /tmp/server.log 2>&1 &
echo $! > /run/server.pid
for i in $(seq 100); do (echo > /dev/tcp/$TEAMSTACK_IP/${PORT}) 2>/dev/null && break; sleep 0.05; done
echo "user_data done"
`;

describe.skipIf(support instanceof Error || !NODE)("local provider", () => {
  const hostConfig = existsSync("/etc/config") ? readFileSync("/etc/config", "utf8") : null;
  let web: { artifacts: ServerArtifacts; ref: ServerRef };

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "teamstack-local-"));
    provider = createLocalProvider({ stateDir });
    web = await create(provider, request("web", SERVE));
  });

  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    const cleaner = createLocalProvider({ stateDir });
    for (const ref of made) await cleaner.destroy(ref);
    await rm(stateDir, { recursive: true, force: true });
  });

  it("passes checkLocalSupport on this machine", async () => {
    await expect(checkLocalSupport()).resolves.toBeUndefined();
  });

  it("reports artifacts with a loopback address outside 127.0.0.0/16", () => {
    expect(web.artifacts).toMatchObject({
      Hostname: "web",
      Provider: "local",
      Type: "sandbox",
      Region: "local",
      PrivateIP: web.artifacts.IP,
      PublicIP: web.artifacts.IP,
    });
    expect(web.artifacts.Id).toMatch(/^local-[0-9a-f]{12}$/);
    expect(web.artifacts.IP).toMatch(/^127\.([1-9]\d{0,2})\.\d{1,3}\.\d{1,3}$/);
  });

  it("writes /etc/config in the sandbox only, with the TEAMSTACK_ variables set", async () => {
    expect(await provider.waitUntilReady(web.ref)).toEqual({ ready: true });
    const result = await provider.runScript(web.ref, "cat /etc/config; hostname", {
      timeoutMs: 5000,
      maxOutputBytes: 4096,
    });
    expect(result).toEqual({
      exitCode: 0,
      output: `server=web ip=${web.artifacts.IP} stack=${stackId} home=/root\nweb\n`,
      truncated: false,
    });
    expect(existsSync("/etc/config") ? readFileSync("/etc/config", "utf8") : null).toBe(hostConfig);
    expect(existsSync("/srv/runs")).toBe(false);
  });

  it("keeps a background server of user_data running, reachable from the host and from another sandbox", async () => {
    expect(readFileSync(join(sandboxDir("web"), "exit-code"), "utf8").trim()).toBe("0");
    expect(await fetchGreeting(web.artifacts.IP)).toBe("hello from web");

    const client = await create(provider, request("client", ""));
    expect(client.artifacts.IP).not.toBe(web.artifacts.IP);
    const result = await provider.runScript(
      client.ref,
      `${NODE} -e 'require("net").connect(${PORT}, process.argv[1]).on("data", (d) => process.stdout.write(d + " (asked by " + require("os").hostname() + ")\\n"))' ${web.artifacts.IP}`,
      { timeoutMs: 5000, maxOutputBytes: 4096 },
    );
    expect(result).toEqual({ exitCode: 0, output: "hello from web (asked by client)\n", truncated: false });
  });

  it("creates one sandbox and runs user_data once when create repeats a token", async () => {
    const before = recordOf("web");
    const again = await Promise.all([
      provider.create(request("web", SERVE)),
      createLocalProvider({ stateDir }).create(request("web", SERVE)),
    ]);
    expect(again).toEqual([web.artifacts, web.artifacts]);
    expect(recordOf("web").holder).toEqual(before.holder);
    const runs = await provider.runScript(web.ref, "cat /srv/runs", { timeoutMs: 5000, maxOutputBytes: 100 });
    expect(runs.output).toBe("run\n");
  });

  it("waits, from a fresh provider instance, for user_data that has finished and for one still running", async () => {
    const slow = await create(provider, request("slow", "sleep 0.6\necho late"));
    const fresh = createLocalProvider({ stateDir });
    const started = performance.now();
    expect(await fresh.waitUntilReady(web.ref)).toEqual({ ready: true });
    expect(performance.now() - started).toBeLessThan(200);
    expect(await fresh.waitUntilReady(slow.ref)).toEqual({ ready: true });
    expect(performance.now() - started).toBeGreaterThan(300);
    expect(readFileSync(join(sandboxDir("slow"), "output.log"), "utf8")).toMatch(/^late\n/);
  });

  it("reports a non-zero exit of user_data with its exit code and the end of its output", async () => {
    const bad = await create(
      provider,
      request("bad", "echo configuring\necho 'no such package: frob' >&2\nexit 3\necho never"),
    );
    const ready = await provider.waitUntilReady(bad.ref);
    expect(ready).toMatchObject({
      ready: false,
      exitCode: 3,
      reason: "user_data of server `bad` exited with code 3",
    });
    expect(ready.ready === false && ready.output).toBe("configuring\nno such package: frob\n");

    // bash -e: the first failing command ends user_data.
    const strict = await create(provider, request("strict", "false\necho not reached"));
    expect(await provider.waitUntilReady(strict.ref)).toMatchObject({
      ready: false,
      exitCode: 1,
      output: "",
    });
  });

  it("keeps the user_data log bounded and its tail in the ready result", async () => {
    const small = createLocalProvider({ stateDir, outputLogBytes: 64 * 1024 });
    const loud = await create(
      small,
      request("loud", "yes 'line of output' | head -n 60000\necho LAST LINE\nexit 7"),
    );
    const ready = await small.waitUntilReady(loud.ref);
    expect(ready).toMatchObject({ ready: false, exitCode: 7 });
    expect(ready.ready === false && ready.output?.slice(-100)).toMatch(/line of output\nLAST LINE\n$/);
    let kept = 0;
    for (const name of await readdir(sandboxDir("loud"))) {
      if (name.startsWith("output.")) kept += (await stat(join(sandboxDir("loud"), name))).size;
    }
    expect(kept).toBeLessThanOrEqual(64 * 1024);
    // The middle was dropped: the first segment after the head is gone.
    expect(existsSync(join(sandboxDir("loud"), "output.seg.000001"))).toBe(false);
  });

  it("rejects waitUntilReady when its signal aborts", async () => {
    const long = await create(provider, request("long", "sleep 30"));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("server_timeout")), 100);
    await expect(provider.waitUntilReady(long.ref, controller.signal)).rejects.toThrow("server_timeout");
  });

  it("bounds runScript output, passes its env, and kills the script's processes at the timeout", async () => {
    const big = await provider.runScript(web.ref, "echo $EXTRA; yes | head -c 100000", {
      timeoutMs: 5000,
      maxOutputBytes: 1000,
      env: { EXTRA: "from the caller" },
    });
    expect(big.exitCode).toBe(0);
    expect(big.truncated).toBe(true);
    expect(big.output.startsWith("from the caller\ny\ny\n")).toBe(true);
    expect(Buffer.byteLength(big.output)).toBe(1000);

    const started = performance.now();
    const slow = await provider.runScript(
      web.ref,
      "sleep 30 &\necho $! > /tmp/bg.pid\necho started\nsleep 30",
      {
        timeoutMs: 3000,
        maxOutputBytes: 4096,
      },
    );
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(slow.exitCode).toBe(124);
    expect(slow.output).toMatch(/^started\n[\s\S]*ran longer than 3000 ms/);
    const bg = await provider.runScript(
      web.ref,
      'kill -0 "$(cat /tmp/bg.pid)" 2>/dev/null && echo alive || echo gone',
      {
        timeoutMs: 5000,
        maxOutputBytes: 100,
      },
    );
    expect(bg.output).toBe("gone\n");
    expect(
      (await provider.runScript(web.ref, "exit 42", { timeoutMs: 5000, maxOutputBytes: 100 })).exitCode,
    ).toBe(42);
  });

  it("keeps a sandbox whose creator was SIGKILLed, and a rerun with its token returns it", async () => {
    const script = join(stateDir, "creator.ts");
    await writeFile(
      script,
      `import { createLocalProvider } from ${JSON.stringify(join(import.meta.dirname, "../../../src/providers/local/index.ts"))};
const p = createLocalProvider({ stateDir: ${JSON.stringify(stateDir)} });
const a = await p.create(${JSON.stringify(request("orphan", SERVE))});
process.stdout.write(JSON.stringify(a) + "\\n");
setInterval(() => {}, 60_000);
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    const line = await new Promise<string>((resolve) => {
      let text = "";
      child.stdout.on("data", (d) => {
        text += d;
        if (text.includes("\n")) resolve(text);
      });
    });
    const artifacts = JSON.parse(line) as ServerArtifacts;
    const ref = { stackId, server: "orphan", id: artifacts.Id };
    made.push(ref);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    expect(await provider.waitUntilReady(ref)).toEqual({ ready: true });
    expect(await fetchGreeting(artifacts.IP)).toBe("hello from orphan");
    expect(await provider.create(request("orphan", SERVE))).toEqual(artifacts);
    expect(
      (await provider.runScript(ref, "cat /srv/runs", { timeoutMs: 5000, maxOutputBytes: 100 })).output,
    ).toBe("run\n");
  });

  it("cleans a half-made sandbox and makes it again", async () => {
    // A creator that died mid-create leaves request.json and a live holder, but no sandbox.json.
    const dir = sandboxDir("half");
    const stray = spawn("sleep", ["30"], { stdio: "ignore", detached: true });
    children.push(stray);
    const strayStart = readFileSync(`/proc/${stray.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[19];
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "request.json"), JSON.stringify({ id: "local-000000000000" }));
    await writeFile(
      join(dir, "holder.json"),
      JSON.stringify({
        pid: stray.pid,
        startTime: strayStart,
        launcherPid: 0,
        launcherStartTime: "",
        pidNamespace: "",
      }),
    );
    const half = await create(provider, request("half", "echo made"));
    expect(processExists(stray.pid ?? 0)).toBe(false);
    expect(await provider.waitUntilReady(half.ref)).toEqual({ ready: true });
    expect(recordOf("half").id).toBe(half.artifacts.Id);
  });

  it("replaces the sandbox when create comes with a new attempt's token", async () => {
    const first = await create(provider, request("retry", "echo one > /etc/attempt"));
    const old = recordOf("retry");
    const second = await create(provider, request("retry", "echo two > /etc/attempt", "retry#2"));
    expect(second.artifacts.Id).not.toBe(first.artifacts.Id);
    expect(second.artifacts.IP).toBe(first.artifacts.IP);
    expect(processExists(old.holder.pid)).toBe(false);
    await provider.waitUntilReady(second.ref);
    expect(
      (await provider.runScript(second.ref, "cat /etc/attempt", { timeoutMs: 5000, maxOutputBytes: 100 }))
        .output,
    ).toBe("two\n");
    // The old attempt's id now names nothing: destroying it leaves the new sandbox alone.
    await provider.destroy(first.ref);
    expect(await provider.waitUntilReady(second.ref)).toEqual({ ready: true });
  });

  it("runs as uid 0 of its own user namespace, with no capability, /usr read-only and no host file in sight", async () => {
    const probe = await provider.runScript(
      web.ref,
      [
        "id -u",
        "grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
        "cat /proc/self/uid_map",
        "touch /usr/teamstack-probe 2>&1 | sed 's/.*: //'",
        `ls ${JSON.stringify(stateDir)} 2>&1 | sed 's/.*: //'`,
        "ls /proc | grep -cE '^[0-9]+$' > /dev/null && echo procs=$(ls /proc | grep -E '^[0-9]+$' | wc -l)",
        // The limits every process of the sandbox inherits: this script's and user_data's (init's).
        "echo limits $(ulimit -u) $(cat /proc/self/oom_score_adj) $(cat /proc/1/oom_score_adj)",
        "grep '^Max processes' /proc/1/limits | awk '{print \"init\", $3}'",
      ].join("\n"),
      { timeoutMs: 5000, maxOutputBytes: 4096 },
    );
    const record = recordOf("web");
    const lines = probe.output.trim().split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "0",
      "CapEff:\t0000000000000000",
      "CapBnd:\t0000000000000000",
      "CapAmb:\t0000000000000000",
      "NoNewPrivs:\t1",
    ]);
    // One uid mapped: 0 inside is the sandbox's own host uid, never the host's root.
    expect(lines[5]?.trim().split(/\s+/)).toEqual(["0", String(record.uid), "1"]);
    expect(record.uid).not.toBe(0);
    if (process.getuid?.() === 0) expect(record.uid).toBeGreaterThanOrEqual(0x71000000);
    expect(lines[6]).toBe("Read-only file system");
    expect(lines[7]).toBe("No such file or directory");
    // The sandbox's processes only: init, its sleep, the server, this script's shells.
    expect(Number(lines[8]?.replace("procs=", ""))).toBeLessThan(10);
    // A fork bomb stops at the process limit (when the sandbox has a uid of its own), and the OOM
    // killer takes the sandbox's processes before any of the host's.
    const nproc = process.getuid?.() === 0 ? String(MAX_SANDBOX_PROCESSES) : expect.any(String);
    expect(lines[9]?.split(" ")).toEqual(["limits", nproc, "1000", "1000"]);
    expect(lines[10]?.split(" ")).toEqual(["init", nproc]);
    expect(existsSync("/usr/teamstack-probe")).toBe(false);
  });

  it("masks the stack's secrets in user_data's log, and keeps user_data and its files off the state directory", async () => {
    // 18 characters: its base64 has no partial group, so every line masks whole.
    const secret = `s3cret${randomBytes(6).toString("hex")}`;
    const quiet = await create(
      provider,
      request(
        "quiet",
        `echo "raw ${secret}"\necho -n '${secret}' | base64\necho -n '${secret}' | od -An -tx1 | tr -d ' \\n'; echo`,
        "quiet#1",
        [secret],
      ),
    );
    expect(await provider.waitUntilReady(quiet.ref)).toEqual({ ready: true });
    const log = readFileSync(join(sandboxDir("quiet"), "output.log"), "utf8");
    expect(log).toBe("raw ***\n***\n***\n");
    // What the provider made is private: modes 0600 and 0700 (quiet's root/ too: its user_data
    // wrote nothing; other sandboxes' own files keep the modes their scripts gave them).
    for (const top of ["sandboxes", "addresses"]) {
      for (const entry of readdirSync(join(stateDir, top), { recursive: true, withFileTypes: true })) {
        const path = join(entry.parentPath, entry.name);
        // Not through a symbolic link (the copy of /etc has some): only what lies here.
        if (entry.isSymbolicLink() || !realpathSync(path).startsWith(`${realpathSync(stateDir)}/`)) continue;
        const own = !/\/root\//.test(path.slice(stateDir.length)) || path.includes("/quiet/");
        if (own) expect([0o600, 0o700], path).toContain(statSync(path).mode & 0o777);
        if (entry.isFile()) expect(readFileSync(path).includes(secret), path).toBe(false);
      }
    }
  });

  it("destroys every process, file, mount and address of a sandbox, idempotently", async () => {
    const victim = await create(provider, request("victim", SERVE));
    await provider.waitUntilReady(victim.ref);
    const { holder } = recordOf("victim");
    const serverPid = Number(
      (await provider.runScript(victim.ref, "cat /run/server.pid", { timeoutMs: 5000, maxOutputBytes: 100 }))
        .output,
    );
    expect(serverPid).toBeGreaterThan(1);
    expect(processesIn(holder.pidNamespace).length).toBeGreaterThanOrEqual(3);

    await provider.destroy(victim.ref);
    expect(processExists(holder.pid)).toBe(false);
    expect(processExists(holder.bwrap.pid)).toBe(false);
    expect(processExists(holder.init.pid)).toBe(false);
    expect(processesIn(holder.pidNamespace)).toEqual([]);
    expect(existsSync(sandboxDir("victim"))).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(stateDir);
    expect(readdirSync(join(stateDir, "addresses"))).not.toContain(victim.artifacts.IP);
    await expect(fetchGreeting(victim.artifacts.IP)).rejects.toThrow(/ECONNREFUSED/);

    await provider.destroy(victim.ref);
    await provider.destroy({ stackId, server: "never-made", id: "local-000000000000" });
    expect(await provider.waitUntilReady(victim.ref)).toMatchObject({ ready: false });
  });
});
