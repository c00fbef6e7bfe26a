import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { BIN, cliEnv, ROOT, runCli } from "../../support/cli.ts";

// What `up` shows while it runs: on a terminal (a pseudo-terminal from util-linux `script`, which
// copies everything the terminal shows to its stdout) one table redrawn in place; with --json one
// JSON object per line ending with the final status; otherwise plain lines.

const hasScript = spawnSync("script", ["--version"]).status === 0;

// Three sim servers in a chain, slow enough for several frames.
const TEMPLATE = [
  "servers:",
  "  - name: db",
  "    provider: sim",
  "    type: t3.small",
  "    options: { boot_ms: 700 }",
  "  - name: app",
  "    provider: sim",
  "    type: t3.small",
  "    user_data: 'echo $servers.db.IP'",
  "    options: { boot_ms: 700 }",
  "  - name: web",
  "    provider: sim",
  "    type: t3.small",
  "    user_data: 'echo $servers.app.IP'",
  "    options: { boot_ms: 500 }",
  "",
].join("\n");

let dir: string;
let stateDir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-live-"));
  stateDir = join(dir, "state");
  file = join(dir, "chain.yaml");
  await writeFile(file, TEMPLATE);
});
afterAll(async () => {
  await stopLocalStore(stateDir);
  await rm(dir, { recursive: true, force: true });
});

/** Runs `teamstack ARGS` on a pseudo-terminal; returns everything the terminal was sent. */
function onTerminal(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; shown: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: ROOT,
    env: { ...cliEnv(), COLUMNS: "120", LINES: "40", TERM: "xterm", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let shown = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    shown += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code, shown });
    });
  });
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal control sequences are what is read
const CONTROL = /\u001b\[(\d*)([A-Za-z])/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal control sequences are what is read
const COLOUR = /\u001b\[[0-9;]*m/;

/**
 * What a terminal's screen holds after `text`: the lines, with cursor-up, erase-line and
 * erase-below applied as a terminal applies them (colours dropped).
 */
function screenOf(text: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let col = 0;
  const put = (ch: string) => {
    const line = (lines[row] ?? "").padEnd(col);
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  for (let i = 0; i < text.length; ) {
    CONTROL.lastIndex = i;
    const m = CONTROL.exec(text);
    if (m) {
      const n = m[1] === "" ? 1 : Number(m[1]);
      if (m[2] === "A") row = Math.max(0, row - n);
      else if (m[2] === "K") lines[row] = "";
      else if (m[2] === "J") {
        lines.length = row + 1;
        lines[row] = (lines[row] ?? "").slice(0, col);
      }
      i = CONTROL.lastIndex;
      continue;
    }
    const ch = text[i] as string;
    i++;
    if (ch === "\r") col = 0;
    else if (ch === "\n") {
      row++;
      col = 0;
      while (lines.length <= row) lines.push("");
    } else put(ch);
  }
  return lines.map((l) => l.trimEnd());
}

describe.skipIf(!hasScript)("up on a terminal", () => {
  let plain: { code: number | null; shown: string };
  let coloured: { code: number | null; shown: string };
  beforeAll(async () => {
    plain = await onTerminal(["up", file, "--member", "ann", "--state-dir", stateDir], { NO_COLOR: "1" });
    coloured = await onTerminal(["up", file, "--member", "bob", "--state-dir", stateDir], { NO_COLOR: "" });
  }, 240_000);

  it("redraws one table in place and leaves its last frame above the status", () => {
    expect(plain.code, plain.shown).toBe(0);
    // Drawn more than once, by moving the cursor back up over the previous frame.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: cursor-up is what is counted
    const ups = plain.shown.match(/\u001b\[\d+A/g) ?? [];
    expect(ups.length, plain.shown).toBeGreaterThan(1);
    const screen = screenOf(plain.shown);
    const headings = screen.filter((l) => /^stack ann-\S+ {2}\S+ {2}\d\/3 ready/.test(l));
    expect(headings, screen.join("\n")).toEqual([
      expect.stringMatching(/^stack ann-\S+ {2}SUCCEEDED {2}3\/3 ready {2}\S+$/),
    ]);
    const at = screen.indexOf(headings[0] as string);
    expect(screen.slice(at + 1, at + 4)).toEqual([
      expect.stringMatching(/^ {2}db {4}SUCCEEDED {3}sim +\d[\d.]*m?s$/),
      expect.stringMatching(/^ {2}app {3}SUCCEEDED {3}sim +\d[\d.]*m?s$/),
      expect.stringMatching(/^ {2}web {3}SUCCEEDED {3}sim +\d[\d.]*m?s$/),
    ]);
    // Frames in between (servers creating, waiting) were all overwritten.
    expect(
      screen.some((l) => /CREATING|WAITING|waits for/.test(l)),
      screen.join("\n"),
    ).toBe(false);
    // The status follows the last frame.
    expect(screen[at + 4]).toMatch(
      /^stack ann-\S+ "chain" \(team local, member ann, chain v1, run 1\): SUCCEEDED$/,
    );
  });

  it("showed what each server waited for while it waited", () => {
    expect(plain.shown).toMatch(/ {2}web {3}(WAITING|PENDING) +sim +waits for app/);
  });

  it("uses no colour with NO_COLOR, and colours states without it", () => {
    expect(COLOUR.test(plain.shown)).toBe(false);
    expect(coloured.code, coloured.shown).toBe(0);
    expect(coloured.shown).toContain("\u001b[32mSUCCEEDED");
  });
});

describe("up off a terminal", () => {
  it("prints one JSON object per line with --json, the final status last", async () => {
    const r = await runCli(["up", file, "--member", "cid", "--json", "--state-dir", stateDir], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.pop()).toBe("");
    const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = objects.slice(0, -1);
    const status = objects.at(-1) as unknown as StackStatusView;
    expect(status).toMatchObject({ status: "SUCCEEDED", member: "cid" });
    expect(status.servers.map((s) => [s.name, s.status])).toEqual([
      ["db", "SUCCEEDED"],
      ["app", "SUCCEEDED"],
      ["web", "SUCCEEDED"],
    ]);
    expect(events.length).toBeGreaterThan(5);
    for (const e of events) {
      expect(e).toMatchObject({
        team: "local",
        stackId: status.stackId,
        type: expect.any(String),
        message: expect.any(String),
      });
    }
    const seqs = events.map((e) => e.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(events.map((e) => e.type)).toContain("ServerReady");
    // Nothing else on stdout, and no progress on stderr.
    expect(r.stderr).not.toMatch(/creating/);

    const down = await runCli(["down", status.stackId, "--json", "--state-dir", stateDir], 120_000);
    expect(down.code, down.stderr).toBe(0);
    const downLines = down.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(downLines.at(-1)).toMatchObject({ stackId: status.stackId, status: "DESTROYED" });
    expect(downLines.slice(0, -1).some((e) => e.type === "ServerDestroyed")).toBe(true);
  });

  it("prints plain progress lines without --json, and no control sequences", async () => {
    const r = await runCli(["up", file, "--member", "dee", "--state-dir", stateDir], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ +\d+\.\ds {2}db: creating$/m);
    expect(r.stderr).not.toContain("\u001b[");
  });
});
