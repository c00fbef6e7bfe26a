import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, type CliResult, cliEnv, ROOT, runCli } from "../../support/cli.ts";
import { registerSshHost } from "../../support/ssh-hosts.ts";
import { sshdTestsRun, startSshd, type TestSshd } from "../../support/sshd.ts";
import { shown, tearDown, tempStateDir, until } from "../cli-stack/stack-cli.ts";

// A stack on the ssh provider through the whole pipeline: the real `teamstack` command, the
// provision machine on the local engine, a real sshd in a network namespace. `up` is killed with
// SIGKILL mid-run, `rerun` converges without creating anything twice, `exec` runs a command on a
// server, and `down` leaves no process or directory on the host.

const RUNS = sshdTestsRun("ssh pipeline tests");

/** `db` leaves a process running; `app` waits for a file the test writes, so a run can be killed mid-way. */
const TEMPLATE = `
servers:
  - name: db
    provider: ssh
    type: host
    user_data: |
      echo "db up on $TEAMSTACK_SERVER"
      nohup sleep 1000 > /dev/null 2>&1 &
  - name: app
    provider: ssh
    type: 2cpu/4gb-ram
    user_data: |
      echo "app reaches $servers.db.IP" | tee reach.txt
      while [ ! -f GATE ]; do sleep 0.1; done
      echo "app passed the gate"
`;

let sshd: TestSshd;
let stateDir: string;
let env: NodeJS.ProcessEnv;
let file: string;
let root: string;
let stackId: string;

/** The host's server directories, by the server name each records. */
function serverDirs(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!existsSync(root)) return out;
  for (const d of readdirSync(root)) {
    const marker = join(root, d, ".teamstack/server");
    // A directory being made has no name yet.
    if (!existsSync(marker)) continue;
    const name = readFileSync(marker, "utf8").trim();
    out.set(name, [...(out.get(name) ?? []), d]);
  }
  return out;
}

/** Processes of the host's login user running `sleep 1000`. */
function sleepers(): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/cmdline`, "utf8") === "sleep\u00001000\u0000" &&
          readFileSync(`/proc/${p}/status`, "utf8").includes(`\nUid:\t${sshd.uid}\t`)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(!RUNS)("a stack on the ssh provider, through teamstack", () => {
  beforeAll(async () => {
    sshd = await startSshd("pipe");
    root = join(sshd.home, "servers");
    stateDir = await tempStateDir("ssh-pipeline");
    env = await registerSshHost(stateDir, "local", "box", sshd.fields());
    file = join(stateDir, "stack.yaml");
    writeFileSync(file, TEMPLATE);
  }, 120_000);

  afterAll(async () => {
    try {
      // The hosts are the state directory's own credentials: tearDown's `teamstack down` finds them.
      if (stateDir) await tearDown(stateDir);
    } finally {
      // Whatever tearDown found: the namespace, sshd and what its user left go.
      await sshd?.stop();
    }
  }, 240_000);

  it("converges when `teamstack up` is killed mid-run and `rerun`: nothing is created twice", async () => {
    const up = spawn(process.execPath, [BIN, "up", file, "--member", "ada", "--state-dir", stateDir], {
      cwd: ROOT,
      env: cliEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    up.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    up.stdout?.resume();
    const ended = new Promise<void>((resolve) => up.once("close", () => resolve()));
    // Mid-run: app's user_data runs (its runner recorded) and waits for its gate.
    const appDir = await until(
      "app's user_data to run",
      async () => {
        const dir = serverDirs().get("app")?.[0];
        return dir &&
          existsSync(join(root, dir, ".teamstack/pid")) &&
          existsSync(join(root, dir, "reach.txt"))
          ? dir
          : undefined;
      },
      90_000,
    ).catch((err: unknown) => {
      up.kill("SIGKILL");
      throw new Error(`${(err as Error).message}\n${stderr}`);
    });
    up.kill("SIGKILL");
    await ended;
    stackId = /^stack (\S+): provisioning/m.exec(stderr)?.[1] as string;
    expect(stackId, stderr).toBeTruthy();
    const before = serverDirs();
    const runners = [...before.values()]
      .flat()
      .map((d) => readFileSync(join(root, d, ".teamstack/pid"), "utf8"));
    expect([...before.keys()].sort()).toEqual(["app", "db"]);
    expect(sleepers()).toHaveLength(1);

    writeFileSync(join(root, appDir, "GATE"), "");
    const rerun = await runCli(["rerun", stackId, "--state-dir", stateDir], 120_000, env);
    expect(rerun.code, shown(rerun)).toBe(0);
    expect(rerun.stdout).toMatch(new RegExp(`stack ${stackId} .*: SUCCEEDED`));
    // The same directories, the same runners: a rerun found what the killed run made.
    expect(serverDirs()).toEqual(before);
    expect(
      [...before.values()].flat().map((d) => readFileSync(join(root, d, ".teamstack/pid"), "utf8")),
    ).toEqual(runners);
    expect(sleepers()).toHaveLength(1);
    const status = await runCli(["status", stackId, "--json", "--state-dir", stateDir], 60_000, env);
    const view = JSON.parse(status.stdout) as { servers: { name: string; status: string; ip?: string }[] };
    expect(view.servers.map((s) => [s.name, s.status]).sort()).toEqual([
      ["app", "SUCCEEDED"],
      ["db", "SUCCEEDED"],
    ]);
    // The rerun followed app's user_data from its start into the log.
    const logs = await runCli(["logs", stackId, "app", "--state-dir", stateDir], 60_000, env);
    expect(logs.stdout, shown(logs)).toContain(`app reaches ${sshd.address}`);
    expect(logs.stdout).toContain("app passed the gate");
  }, 300_000);

  it("runs `teamstack exec` on an ssh server, in its directory, with its exit code", async () => {
    const cat = await runCli(
      ["exec", stackId, "app", "--state-dir", stateDir, "--", "cat", "reach.txt"],
      60_000,
      env,
    );
    expect(cat.code, shown(cat)).toBe(0);
    expect(cat.stdout).toBe(`app reaches ${sshd.address}\n`);
    const fails: CliResult = await runCli(
      ["exec", stackId, "db", "--state-dir", stateDir, "--", "sh", "-c", "echo $TEAMSTACK_SERVER; exit 5"],
      60_000,
      env,
    );
    expect(fails.code, shown(fails)).toBe(5);
    expect(fails.stdout).toBe("db\n");
  }, 120_000);

  it("`teamstack down` leaves no process or directory of the stack on the host", async () => {
    const down = await runCli(["down", stackId, "--state-dir", stateDir], 120_000, env);
    expect(down.code, shown(down)).toBe(0);
    expect(serverDirs().size).toBe(0);
    expect(existsSync(root)).toBe(true);
    expect(sleepers()).toEqual([]);
  }, 180_000);
});
