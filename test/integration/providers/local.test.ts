import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
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
  LocalSandboxError,
  SandboxSetupError,
} from "../../../src/providers/local/index.ts";

// Real sandboxes: these tests need a machine where `checkLocalSupport` passes (root, or
// unprivileged user namespaces). Elsewhere they are skipped, and the reason is printed.
const support = await detectLocalSupport().catch((err: unknown) => err as Error);
if (support instanceof Error) console.warn(`skipping local provider tests: ${support.message}`);

// A sandbox has its own empty /tmp: a Node that lives under /tmp (a checkout there) is not
// visible inside it, so the sandbox then uses the `node` on its own PATH.
const NODE =
  process.execPath.startsWith(`${tmpdir()}/`) || process.execPath.startsWith("/tmp/")
    ? "node"
    : process.execPath;
const PORT = 8080;
const run = randomBytes(3).toString("hex");
const stackId = `it-${run}`;

let stateDir: string;
let provider: Provider;
const made: ServerRef[] = [];
const children: ChildProcess[] = [];

function request(server: string, userData: string, token = `${server}#1`): CreateServerRequest {
  return {
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
  readonly holder: { pid: number; startTime: string; launcherPid: number; pidNamespace: string };
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

describe.skipIf(support instanceof Error)("local provider", () => {
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
    const home = support instanceof Error || support.mode === "root" ? "/root" : homedir();
    expect(result).toEqual({
      exitCode: 0,
      output: `server=web ip=${web.artifacts.IP} stack=${stackId} home=${home}\nweb\n`,
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
        timeoutMs: 300,
        maxOutputBytes: 4096,
      },
    );
    expect(performance.now() - started).toBeLessThan(3000);
    expect(slow.exitCode).toBe(124);
    expect(slow.output).toMatch(/^started\n[\s\S]*ran longer than 300 ms/);
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
    const child = spawn(NODE, [script], { stdio: ["ignore", "pipe", "inherit"] });
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

  it("explains which directory could be neither overlaid nor copied", async () => {
    const copying = createLocalProvider({ stateDir, filesystem: "copy", copyLimitBytes: 1 });
    const err = await copying.create(request("nocopy", "true")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxSetupError);
    expect(err).toBeInstanceOf(LocalSandboxError);
    expect((err as Error).message).toMatch(/cannot give the sandbox its own \/etc: .* copy limit/);
    expect(existsSync(sandboxDir("nocopy"))).toBe(false);
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
    expect(processExists(holder.launcherPid)).toBe(false);
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
