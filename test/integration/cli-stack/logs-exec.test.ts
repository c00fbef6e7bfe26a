import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { LOG_LIMIT_BYTES } from "../../../src/ports/server-logs.ts";
import { detectLocalSupport } from "../../../src/providers/local/support.ts";
import {
  BIN,
  type CliResult,
  finalJson,
  ROOT,
  runCli,
  serverOf,
  shown,
  startCli,
  tearDown,
  tempStateDir,
} from "./stack-cli.ts";

// `teamstack logs`, `exec` and `shell` as real processes, on servers in real sandboxes: the
// example stack as `npm start` runs it, and a stack whose user_data waits for the test, prints a
// secret in several encodings and a 3 MB output.

const support = await detectLocalSupport().catch((err: unknown) => err as Error);
if (support instanceof Error) console.warn(`skipping logs and exec tests: ${support.message}`);
if (process.env.CI && support instanceof Error)
  throw new Error(`logs tests cannot run in CI: ${support.message}`);

/** Waits (bounded) until `check` answers something, checking every few milliseconds. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `teamstack ARGS` with `input` on its stdin. */
function runWithInput(args: readonly string[], input: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function setSecret(stateDir: string, name: string, value: string | Buffer): void {
  const set = spawnSync(
    process.execPath,
    [BIN, "secrets", "set", "--team", "local", "--member", "octocat", name, "--state-dir", stateDir],
    { cwd: ROOT, input: value, encoding: "utf8" },
  );
  expect(set.status, set.stderr).toBe(0);
}

describe.skipIf(support instanceof Error)("teamstack logs, exec and shell on the example stack", () => {
  let stateDir: string;
  let view: StackStatusView;

  beforeAll(async () => {
    stateDir = await tempStateDir("logs-example");
    setSecret(stateDir, "AWS_SECRET_KEY", readFileSync("examples/octocat.AWS_SECRET_KEY"));
    const up = await runCli(
      [
        "up",
        "examples/team-stack.yaml",
        "--simulate-provider",
        "aws",
        "--member",
        "octocat",
        "--userdata",
        "examples/member.json",
        "--json",
        "--state-dir",
        stateDir,
      ],
      180_000,
    );
    expect(up.code, shown(up)).toBe(0);
    view = finalJson(up.stdout) as StackStatusView;
  }, 200_000);
  afterAll(async () => {
    await tearDown(stateDir);
  }, 200_000);

  it("prints devrim's user_data output", async () => {
    const r = await runCli(["logs", view.stackId, "devrim", "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(0);
    expect(r.stdout).toBe("foo\n");
    expect(r.stderr).toContain("devrim: attempt 1 of 1 (user_data, ended)");
  });

  it("runs cat /etc/config in devrim's sandbox: mysql's IP, exit code 0", async () => {
    const r = await runCli([
      "exec",
      view.stackId,
      "devrim",
      "--state-dir",
      stateDir,
      "--",
      "cat",
      "/etc/config",
    ]);
    expect(r.code, shown(r)).toBe(0);
    expect(r.stdout).toBe(`${serverOf(view, "mysql").artifacts.IP}\n`);
  });

  it("exits with a failing command's own exit code", async () => {
    const three = await runCli([
      "exec",
      view.stackId,
      "devrim",
      "--state-dir",
      stateDir,
      "--",
      "sh",
      "-c",
      "exit 3",
    ]);
    expect(three.code, shown(three)).toBe(3);
    const missing = await runCli([
      "exec",
      view.stackId,
      "devrim",
      "--state-dir",
      stateDir,
      "--",
      "cat",
      "/nope",
    ]);
    expect(missing.code, shown(missing)).toBe(1);
    expect(missing.stdout).toContain("/nope");
  });

  it("opens a shell in devrim's sandbox that runs what it is given and exits with its code", async () => {
    const r = await runWithInput(
      ["shell", view.stackId, "devrim", "--state-dir", stateDir],
      "cat /etc/config; hostname; exit 4\n",
    );
    expect(r.code, shown(r)).toBe(4);
    expect(r.stdout).toContain(serverOf(view, "mysql").artifacts.IP);
    expect(r.stdout).toContain("devrim");
  });

  it("says which server is unknown, and refuses exec without a command", async () => {
    const r = await runCli(["exec", view.stackId, "nope", "--state-dir", stateDir, "--", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("has no server `nope`");
    const usage = await runCli(["exec", view.stackId, "devrim", "--state-dir", stateDir]);
    expect(usage.code).toBe(2);
  });
});

const SECRET = "Tr0ub4dor&3-horse-battery-staple";
const TEMPLATE = `servers:
  - name: slow
    provider: local
    type: sandbox
    user_data: |
      s="$koding.userdata.API_TOKEN"
      printf '%s' "\${s:0:7}"; sleep 0.3; printf '%s\\n' "\${s:7}"
      printf '%s' "$s" | base64 -w0; echo
      printf '%s' "$s" | od -An -tx1 | tr -d ' \\n'; echo
      echo "first line"
      until [ -e /tmp/go ]; do sleep 0.02; done
      echo "written at $(date +%s%3N)"
      echo done
  - name: big
    provider: local
    type: sandbox
    user_data: |
      echo "the start"
      head -c 3000000 /dev/zero | tr '\\0' 'x'
      echo
      echo "the end"
`;

describe.skipIf(support instanceof Error)("teamstack logs --follow on a server still running", () => {
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await tempStateDir("logs-follow");
    setSecret(stateDir, "API_TOKEN", SECRET);
    writeFileSync(join(stateDir, "slow.yaml"), TEMPLATE);
  });
  afterAll(async () => {
    await tearDown(stateDir);
  }, 200_000);

  it("prints a new line within 1 s of its being written, masks the secret, and ends with the attempt", async () => {
    const up = startCli(
      ["up", join(stateDir, "slow.yaml"), "--member", "octocat", "--json", "--state-dir", stateDir],
      180_000,
    );
    // The attempt's log, once user_data has printed its first line.
    const logs = join(stateDir, "logs", "local");
    const stackId = await until("the first line in slow's log", () => {
      let ids: string[] = [];
      try {
        ids = readdirSync(logs);
      } catch {
        return undefined;
      }
      for (const id of ids) {
        const file = join(logs, id, "server.slow", "000001.log");
        try {
          if (readFileSync(file, "utf8").includes("first line\n")) return id;
        } catch {
          // not yet
        }
      }
      return undefined;
    });
    const follower = spawn(
      process.execPath,
      [BIN, "logs", stackId, "slow", "--follow", "--state-dir", stateDir],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    let printedAt: number | undefined;
    follower.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (printedAt === undefined && /written at \d+\n/.test(out)) printedAt = Date.now();
    });
    follower.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const ended = new Promise<number | null>((resolve) => follower.on("close", (code) => resolve(code)));
    try {
      // The follower has caught up with what is written so far: now the test lets user_data go on.
      await until("the follower to print the first line", () =>
        out.includes("first line\n") ? true : undefined,
      );
      writeFileSync(join(stateDir, "sandboxes", stackId, "slow", "root", "tmp", "go"), "");
      await until("the follower to print the written line", () => printedAt);
      const writtenAt = Number(/written at (\d+)\n/.exec(out)?.[1]);
      expect((printedAt as number) - writtenAt, out).toBeLessThan(1000);
      expect(await ended, err).toBe(0);
    } finally {
      follower.kill("SIGKILL");
    }
    expect(out.endsWith("done\n"), out).toBe(true);
    const result = await up.done;
    expect(result.code, shown(result)).toBe(0);

    // The secret, whole or split across two writes, and its base64 and hex, never reach the log.
    const forms = [
      SECRET,
      Buffer.from(SECRET).toString("base64").slice(0, -2),
      Buffer.from(SECRET).toString("hex"),
    ];
    const onDisk = await readFile(join(logs, stackId, "server.slow", "000001.log"), "utf8");
    for (const text of [out, onDisk]) {
      for (const form of forms) expect(text).not.toContain(form);
      expect(text.split("\n").slice(0, 3)).toEqual([
        "***",
        expect.stringMatching(/^\*\*\*[A-Za-z0-9+/]?=*$/),
        "***",
      ]);
    }
    const sandbox = await readdir(join(stateDir, "sandboxes", stackId, "slow"));
    for (const name of sandbox.filter((n) => n.startsWith("output."))) {
      expect(await readFile(join(stateDir, "sandboxes", stackId, "slow", name), "utf8")).not.toContain(
        SECRET,
      );
    }

    // A 3 MB output keeps its first bytes, a line saying what was cut, and its end: at most 1 MiB.
    const big = await runCli(["logs", stackId, "big", "--state-dir", stateDir]);
    expect(big.code, shown(big)).toBe(0);
    expect(Buffer.byteLength(big.stdout)).toBeLessThanOrEqual(LOG_LIMIT_BYTES);
    expect(big.stdout.startsWith("the start\nxxx")).toBe(true);
    expect(big.stdout).toMatch(/\[teamstack\] \.\.\. \d+ bytes cut here/);
    expect(big.stdout.endsWith("x\nthe end\n")).toBe(true);
  }, 200_000);
});
