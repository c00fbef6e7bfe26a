import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import {
  BIN,
  finalJson,
  ISO_MS,
  leasesOf,
  listStacks,
  liveSandboxes,
  mountsMentioning,
  ROOT,
  runCli,
  sandboxFiles,
  serverOf,
  shown,
  stackEvents,
  stackStatus,
  tearDown,
  tempStateDir,
} from "./stack-cli.ts";

// The seed's example through `teamstack up`, `status`, `list` and `down` as real processes:
// aws servers on sim, devrim in a real sandbox on this machine.

const EXAMPLE = "examples/team-stack.yaml";
const USERDATA = "examples/member.json";

/** `up` of the example, as `npm start` runs it. */
function upArgs(stateDir: string): string[] {
  const run = ["up", EXAMPLE, "--simulate-provider", "aws", "--member", "octocat", "--userdata", USERDATA];
  return [...run, "--json", "--state-dir", stateDir];
}

describe("teamstack up examples/team-stack.yaml", () => {
  let stateDir: string;
  let view: StackStatusView;

  beforeAll(async () => {
    stateDir = await tempStateDir("up-example");
    // As `npm start` does: the member's AWS key is a secret, the rest plain data.
    const set = spawnSync(
      process.execPath,
      [
        BIN,
        "secrets",
        "set",
        "--team",
        "local",
        "--member",
        "octocat",
        "AWS_SECRET_KEY",
        "--state-dir",
        stateDir,
      ],
      { cwd: ROOT, input: readFileSync("examples/octocat.AWS_SECRET_KEY"), encoding: "utf8" },
    );
    expect(set.status, set.stderr).toBe(0);
  });
  afterAll(async () => {
    await tearDown(stateDir);
  });

  it("provisions every server and runs the hooks in order, third-party ones skipped", async () => {
    const r = await runCli(upArgs(stateDir));
    expect(r.code, shown(r)).toBe(0);
    view = finalJson(r.stdout) as StackStatusView;
    expect(view.status).toBe("SUCCEEDED");
    expect(view.lock).toBeNull();
    expect(view.error).toBeNull();
    expect(view.servers.map((s) => s.name)).toEqual(["mysql", "php", "devrim"]);
    for (const s of view.servers) {
      expect(s.status, s.name).toBe("SUCCEEDED");
      expect(s.artifacts.Id, s.name).toMatch(/^(sim|local)-[0-9a-f]+$/);
      expect(s.artifacts.IP, s.name).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(serverOf(view, "mysql").provider).toBe("sim");
    expect(serverOf(view, "php").provider).toBe("sim");
    const devrim = serverOf(view, "devrim");
    expect(devrim.provider).toBe("local");
    expect(devrim.artifacts.IP).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(devrim.artifacts.Id).toMatch(/^local-/);

    expect(view.hooks.map((h) => [h.phase, h.index, h.type])).toEqual([
      ["pre", 0, "add_github_user"],
      ["post", 0, "add_github_user"],
      ["post", 1, "run_script"],
      ["post", 2, "run_script"],
      ["post", 3, "send_tweet"],
      ["post", 4, "slack_msg"],
    ]);
    for (const h of view.hooks) {
      if (h.type === "run_script") {
        expect(h, `${h.phase}:${h.index}`).toMatchObject({ status: "SUCCEEDED", exitCode: 0 });
      } else {
        expect(h.status, `${h.phase}:${h.index}`).toBe("SKIPPED");
        expect(h.error, `${h.phase}:${h.index}`).toMatch(/has no secret `\w+`.*teamstack secrets set/);
      }
    }
    expect(view.hooks[2]?.output).toContain("mysql");
    // The member secret reached the script and shows masked.
    expect(view.hooks[2]?.output).toContain("echo naber gokmen ***");
    expect(JSON.stringify(view)).not.toContain("example-value-not-a-real-key");
    // The order they ran in: one at a time, pre before post, in template order.
    const finished = (await stackEvents(stateDir, view)).filter((e) => e.type === "HookFinished");
    expect(finished.map((e) => e.message.split(":")[0])).toEqual([
      "pre_hooks[0] add_github_user",
      "post_hooks[0] add_github_user",
      "post_hooks[1] run_script",
      "post_hooks[2] run_script",
      "post_hooks[3] send_tweet",
      "post_hooks[4] slack_msg",
    ]);
    expect(view.hooks[3]?.output).toContain("php");

    for (const t of [
      view.startedAt,
      view.finishedAt,
      ...view.servers.flatMap((s) => [s.startedAt, s.readyAt]),
    ]) {
      expect(t).toMatch(ISO_MS);
    }
  });

  it("writes mysql's IP into devrim's /etc/config inside its sandbox, not the host's", async () => {
    const mysqlIp = serverOf(view, "mysql").artifacts.IP as string;
    // The sandbox's /etc is its own copy, under its directory.
    const config = await readFile(
      join(stateDir, "sandboxes", view.stackId, "devrim", "root", "etc", "config"),
      "utf8",
    );
    expect(config.split("\n")).toContain(mysqlIp);
    const host = await readFile("/etc/config", "utf8").catch(() => "");
    expect(host).not.toContain(mysqlIp);
  });

  it("shows the same status with `status --json` and lists the stack with `list --json`", async () => {
    expect(await stackStatus(stateDir, view.stackId)).toEqual(view);
    const rows = await listStacks(stateDir);
    expect(rows).toEqual([
      {
        stackId: view.stackId,
        name: "team-stack",
        template: { name: "team-stack", version: 1 },
        status: "SUCCEEDED",
        team: "local",
        member: view.member,
        startedAt: view.startedAt,
      },
    ]);
    expect(rows[0]?.startedAt).toMatch(ISO_MS);
  });

  it("converges the same stack when run again (as `npm start` twice): one stack, the same servers", async () => {
    const r = await runCli(upArgs(stateDir));
    expect(r.code, shown(r)).toBe(0);
    const again = finalJson(r.stdout) as StackStatusView;
    expect(again.stackId).toBe(view.stackId);
    expect(again.servers.map((s) => [s.name, s.status, s.artifacts.Id])).toEqual(
      view.servers.map((s) => [s.name, "SUCCEEDED", s.artifacts.Id]),
    );
    expect((await listStacks(stateDir)).map((row) => row.stackId)).toEqual([view.stackId]);
    view = again;
  });

  it("destroys everything with `down`: no holder, no sandbox files, no mount, no lease", async () => {
    const sandboxes = await liveSandboxes(stateDir, view.stackId);
    expect(sandboxes.get("devrim")?.holders).toHaveLength(1);
    expect(await leasesOf(stateDir, view.stackId)).toEqual(
      new Map([[serverOf(view, "devrim").artifacts.IP, "devrim"]]),
    );

    const r = await runCli(["down", view.stackId, "--json", "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(0);
    const after = finalJson(r.stdout) as StackStatusView;
    expect(after.status).toBe("DESTROYED");
    expect(after.lock).toBeNull();
    for (const s of after.servers) expect(s.status, s.name).toBe("DESTROYED");

    expect(await liveSandboxes(stateDir, view.stackId)).toEqual(new Map());
    expect(await sandboxFiles(stateDir, view.stackId)).toEqual([]);
    expect(await mountsMentioning(stateDir)).toEqual([]);
    expect(await leasesOf(stateDir, view.stackId)).toEqual(new Map());
    expect((await listStacks(stateDir)).map((s) => s.status)).toEqual(["DESTROYED"]);
  });
});

describe("teamstack up, refusing", () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await tempStateDir("up-refused");
  });
  afterAll(async () => {
    await tearDown(stateDir);
  });

  it("exits 2 naming every missing $koding.userdata key when no userdata is given", async () => {
    const r = await runCli(["up", EXAMPLE, "--simulate-provider", "aws", "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(2);
    expect(r.stderr).toContain("$koding.userdata.github_username");
    expect(r.stderr).toContain("$koding.userdata.AWS_SECRET_KEY");
    expect(r.stderr).toContain("--userdata");
    expect(await listStacks(stateDir)).toEqual([]);
  });

  it("exits 1 with FILE:LINE:COL problems for an invalid template and creates no stack", async () => {
    const file = "test/fixtures/bad/52-many-problems.yaml";
    const r = await runCli(["up", file, "--simulate", "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(1);
    const problems = r.stderr.trimEnd().split("\n");
    expect(problems.length).toBeGreaterThan(1);
    for (const line of problems)
      expect(line).toMatch(new RegExp(`^${file.replaceAll(".", "\\.")}:\\d+:\\d+: `));
    expect(r.stdout).toBe("");
    expect(await listStacks(stateDir)).toEqual([]);
  });
});
