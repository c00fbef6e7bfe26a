import { appendFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ListRow,
  type RunningCli,
  runCli,
  shown,
  startCli,
  tearDown,
  tempStateDir,
} from "./stack-cli.ts";

// `teamstack rollout` and `teamstack list --outdated` as real processes: stacks made by `up`, a
// real `teamstack serve` that runs the rollout's updates and advances its waves.

let stateDir: string;
let file: string;
let serve: RunningCli | undefined;

const V1 = "servers:\n  - { name: db, provider: sim, type: t3.micro }\n";

async function outdated(): Promise<(ListRow & { latest?: number; template: { version: number } })[]> {
  const r = await runCli(["list", "--outdated", "--json", "--state-dir", stateDir], 60_000);
  expect(r.code, shown(r)).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  stateDir = await tempStateDir("rollout-cli");
  // `up` names the template after the file: `web`.
  file = join(stateDir, "web.yaml");
  await writeFile(file, V1);
  for (const member of ["m1", "m2", "m3"]) {
    const r = await runCli(
      ["up", file, "--member", member, "--team", "acme", "--state-dir", stateDir],
      60_000,
    );
    expect(r.code, shown(r)).toBe(0);
  }
  // v2, published by a fourth member's `up`: the first three are behind.
  await appendFile(file, "# v2\n");
  const r = await runCli(["up", file, "--member", "m4", "--team", "acme", "--state-dir", stateDir], 60_000);
  expect(r.code, shown(r)).toBe(0);
}, 240_000);

afterAll(async () => {
  if (serve) {
    serve.child.kill("SIGTERM");
    await serve.done;
  }
  await tearDown(stateDir);
}, 240_000);

describe("teamstack rollout", () => {
  it("lists the three stacks behind with list --outdated", async () => {
    const rows = await outdated();
    expect(rows.map((r) => [r.member, r.template.version, r.latest])).toEqual(
      expect.arrayContaining([
        ["m1", 1, 2],
        ["m2", 1, 2],
        ["m3", 1, 2],
      ]),
    );
    expect(rows).toHaveLength(3);
  });

  it("refuses without a running serve, and without --version", async () => {
    const none = await runCli([
      "rollout",
      "web",
      "--version",
      "2",
      "--team",
      "acme",
      "--state-dir",
      stateDir,
    ]);
    expect(none.code, shown(none)).toBe(1);
    expect(none.stderr).toContain("a rollout runs in `teamstack serve`");
    const usage = await runCli(["rollout", "web", "--state-dir", stateDir]);
    expect(usage.code, shown(usage)).toBe(2);
    expect(usage.stderr).toContain("--version N is required");
    const bad = await runCli(["rollout", "web", "--version", "2", "--batch", "0", "--state-dir", stateDir]);
    expect(bad.code, shown(bad)).toBe(2);
    expect(bad.stderr).toContain("--batch `0`: expected a whole number from 1 to 1000");
  });

  it("updates every stack behind through serve, printing each one's progress", async () => {
    serve = startCli(["serve", "--port", "0", "--state-dir", stateDir]);
    await new Promise<void>((resolve, reject) => {
      const check = (chunk: string) => {
        if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(serve?.stderr() ?? chunk)) resolve();
      };
      serve?.child.stderr?.on("data", check);
      serve?.done.then((r) => reject(new Error(`serve exited: ${shown(r)}`)));
    });
    const r = await runCli(
      ["rollout", "web", "--version", "2", "--team", "acme", "--batch", "2", "--state-dir", stateDir],
      120_000,
    );
    expect(r.code, shown(r)).toBe(0);
    expect(r.stdout).toMatch(/^rollout ro-[0-9a-f]{16}: SUCCEEDED: 3 of 3 stacks updated\n$/);
    expect(r.stderr).toMatch(/: 3 stacks behind\n/);
    expect(r.stderr).toMatch(/\(m1, canary\): SUCCEEDED/);
    expect(r.stderr).toMatch(/\(m3, wave 1\): SUCCEEDED/);
    expect(await outdated()).toEqual([]);
  }, 180_000);
});
