import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import { BIN, cliEnv, ROOT, runCli } from "../../support/cli.ts";

// templates, members and policy through a real `teamstack serve` on 127.0.0.1, as a user runs them.

const TEMPLATE = [
  "servers:",
  "  - name: db",
  "    provider: sim",
  "    type: t3.small",
  "    options: { boot_ms: 200 }",
  "  - name: web",
  "    provider: sim",
  "    type: t3.small",
  "    user_data: 'echo $servers.db.IP'",
  "",
].join("\n");

let dir: string;
let stateDir: string;
let serve: ChildProcess;
let url: string;

const ts = (...args: string[]) => runCli([...args, "--state-dir", stateDir], 60_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-team-cli-"));
  stateDir = join(dir, "state");
  await writeFile(join(dir, "web.yaml"), TEMPLATE);
  await writeFile(
    join(dir, "v2.yaml"),
    `${TEMPLATE}  - name: cache\n    provider: sim\n    type: t3.small\n`,
  );
  // A reference to a server that does not exist, on line 4.
  await writeFile(
    join(dir, "bad.yaml"),
    "servers:\n  - name: db\n    provider: sim\n    type: t3.small\n    user_data: 'echo $servers.nope.IP'\n",
  );
  await writeFile(join(dir, "ann.json"), JSON.stringify({ github_username: "ann", seats: 3 }));
  await writeFile(join(dir, "nested.json"), JSON.stringify({ ok: "yes", deep: { no: 1 } }));
  serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state-dir", stateDir], {
    cwd: ROOT,
    env: cliEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    serve.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    serve.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
}, 60_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill("SIGTERM");
    await new Promise((r) => serve.once("exit", r));
  }
  await stopLocalStore(stateDir);
  await rm(dir, { recursive: true, force: true });
});

describe("templates", () => {
  it("pushes a file as a version, once per text", async () => {
    const first = await ts("templates", "push", join(dir, "web.yaml"));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^published web version 1 for team local \(sha256 [0-9a-f]{12}\)\n$/);
    const again = await ts("templates", "push", join(dir, "web.yaml"));
    expect(again.stdout).toBe("web: version 1 has this text already; nothing published\n");
    const second = await ts("templates", "push", join(dir, "v2.yaml"), "--name", "web", "--json");
    expect(JSON.parse(second.stdout)).toMatchObject({ name: "web", version: 2 });
  });

  it("refuses a template with problems at their places in the file, publishing nothing", async () => {
    const file = join(dir, "bad.yaml");
    const r = await ts("templates", "push", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file}:5:\\d+: error: .*nope`, "m"));
    expect(r.stderr).toContain(`${file} was not published`);
    const list = await ts("templates", "list", "--json");
    expect((JSON.parse(list.stdout) as { name: string }[]).map((t) => t.name)).not.toContain("bad");
  });

  it("lists, shows and sets the default", async () => {
    const set = await ts("templates", "default", "web", "--version", "1");
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe("team local's default template is now web version 1\n");
    const list = await ts("templates", "list");
    expect(list.stdout).toMatch(/^web +v2 +\S+ {2}default: v1$/m);
    const show = await ts("templates", "show", "web");
    expect(show.stdout.split("\n")).toEqual([
      "template web of team local (the default: v1)",
      expect.stringMatching(/^ {2}v1 +[0-9a-f]{12} {2}teamstack-cli {2}\S+ {2}default$/),
      expect.stringMatching(/^ {2}v2 +[0-9a-f]{12} {2}teamstack-cli {2}\S+$/),
      "",
    ]);
    // A version: its text where the API gives it, else what it says of that version.
    const v1 = await ts("templates", "show", "web", "--version", "1");
    expect(v1.code, v1.stderr).toBe(0);
    expect(v1.stdout === TEMPLATE || /^web v1 {2}sha256 [0-9a-f]{64}/.test(v1.stdout), v1.stdout).toBe(true);
  });

  it("says what is missing: a template, a version, a verb's arguments", async () => {
    const none = await ts("templates", "show", "nothing");
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("teamstack templates show: team `local` has no template `nothing`\n");
    const v9 = await ts("templates", "default", "web", "--version", "9");
    expect(v9.code).toBe(1);
    expect(v9.stderr).toMatch(/no template `web` at version 9/);
    const flag = await ts("templates", "list", "--name", "x");
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--name applies to `push`, not `list`/);
    const verb = await ts("templates", "pushh", "x");
    expect(verb.stderr).toMatch(
      /unknown verb `pushh`: expected push, list, show, default; did you mean `push`\?/,
    );
  });
});

describe("members", () => {
  it("sets a member's data, read back from the store", async () => {
    const r = await ts("members", "set", "ann", "--userdata", join(dir, "ann.json"), "--team", "acme");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("member ann of team acme: data set (github_username, seats)\n");
    const local = await ensureLocalStore(stateDir);
    try {
      const member = await createDynamoStore({ client: local.client, tableName: local.tableName }).getMember(
        "acme",
        "ann",
      );
      expect(member?.data).toEqual({ github_username: "ann", seats: "3" });
    } finally {
      local.close();
    }
  });

  it("refuses data that is not flat text, naming the key", async () => {
    const r = await ts("members", "set", "ann", "--userdata", join(dir, "nested.json"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nested.json: `deep` is an object; expected text, a number or true/false");
    const missing = await ts("members", "set", "ann");
    expect(missing.stderr).toContain("give the member's data with --userdata FILE.json");
  });
});

describe("policy", () => {
  it("sets the providers and on_member_left, and keeps what is not given", async () => {
    const set = await ts(
      "policy",
      "set",
      "--providers",
      "sim,local",
      "--on-member-left",
      "keep",
      "--team",
      "acme",
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("  providers:      local, sim\n  on_member_left: keep\n");
    const only = await ts("policy", "set", "--on-member-left", "stop", "--team", "acme", "--json");
    expect(JSON.parse(only.stdout)).toMatchObject({ providers: ["local", "sim"], onMemberLeft: "stop" });
    const show = await ts("policy", "show", "--team", "acme", "--json");
    expect(JSON.parse(show.stdout)).toMatchObject({
      team: "acme",
      providers: ["local", "sim"],
      onMemberLeft: "stop",
    });
  });

  it("refuses unknown providers and values before calling the API", async () => {
    const provider = await ts("policy", "set", "--providers", "simm");
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain(
      "unknown provider `simm`; expected any of aws, local, sim, docker, ssh; did you mean `sim`?",
    );
    const left = await ts("policy", "set", "--on-member-left", "destory");
    expect(left.stderr).toContain("expected one of destroy, stop, keep; did you mean `destroy`?");
    const nothing = await ts("policy", "set");
    expect(nothing.stderr).toContain("give --providers LIST, --on-member-left WHAT, or both");
  });
});

describe("reaching the API", () => {
  it("goes through --endpoint from anywhere, and says when nothing answers", async () => {
    const r = await ts("templates", "list", "--endpoint", url, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }[]).map((t) => t.name)).toEqual(["web"]);
    const nobody = await ts("templates", "list", "--endpoint", "http://127.0.0.1:9");
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain("no teamstack API answers at http://127.0.0.1:9");
  });

  it("says how to start serve when none runs on the state directory", async () => {
    const empty = await mkdtemp(join(tmpdir(), "teamstack-no-serve-"));
    try {
      const r = await runCli(["templates", "list", "--state-dir", empty]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("start it on this state directory (npx teamstack serve)");
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe("a run through serve with --json", () => {
  it("streams the run's events from the store and ends with the final status", async () => {
    const up = await runCli(
      ["up", join(dir, "web.yaml"), "--member", "eve", "--json", "--state-dir", stateDir],
      120_000,
    );
    expect(up.code, up.stderr).toBe(0);
    const stackId = (JSON.parse(up.stdout.trim().split("\n").at(-1) as string) as StackStatusView).stackId;
    const r = await runCli(["rerun", stackId, "--json", "--state-dir", stateDir], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ stackId, status: "SUCCEEDED", run: 2 });
    const events = lines.slice(0, -1);
    expect(events.map((e) => e.type)).toContain("StackProvisioned");
    expect(events.every((e) => e.stackId === stackId)).toBe(true);
  });
});
