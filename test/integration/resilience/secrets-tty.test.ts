import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalSecrets } from "../../../src/secrets/local-secrets.ts";
import { BIN, ROOT } from "../../support/cli.ts";

// `teamstack secrets set` with the value typed on a terminal: util-linux `script` gives the
// command a pseudo-terminal and copies everything the terminal shows to its stdout.

const hasScript = spawnSync("script", ["--version"]).status === 0;

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "teamstack-tty-"));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** Runs `secrets set` on a terminal, types `keys` once it asks, and returns what the terminal showed. */
function typeOnTerminal(name: string, keys: string): Promise<{ code: number | null; shown: string }> {
  const command = [process.execPath, BIN, "secrets", "set", "--team", "t", name, "--state-dir", stateDir]
    .map((a) => `'${a}'`)
    .join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let shown = "";
  let typed = false;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    shown += d;
    if (!typed && shown.includes("value (not shown")) {
      typed = true;
      child.stdin.write(keys);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, shown });
    });
  });
}

describe.skipIf(!hasScript)("secrets set on a terminal", () => {
  it("does not echo the typed value, and stores it as typed (Backspace taken back)", async () => {
    const { code, shown } = await typeOnTerminal("API_KEY", "hunter2-typedX\u007f\r");
    expect(code, shown).toBe(0);
    expect(shown).toContain("stored team t's secret API_KEY");
    expect(shown).not.toContain("hunter2");
    expect(await createLocalSecrets({ stateDir }).get({ team: "t" }, "API_KEY")).toBe("hunter2-typed");
  });

  it("stores nothing when Ctrl-C cancels, and says so", async () => {
    const { code, shown } = await typeOnTerminal("CANCELLED", "half-typed\u0003");
    expect(code, shown).toBe(1);
    expect(shown).toContain("cancelled; no secret was stored");
    expect(shown).not.toContain("half-typed");
    expect(await createLocalSecrets({ stateDir }).get({ team: "t" }, "CANCELLED")).toBeUndefined();
  });
});
