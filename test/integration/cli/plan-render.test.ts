import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as runCliWithin } from "../../support/cli.ts";

// `plan` and `render` through the real command, on the seed's example.

const EXAMPLE = "examples/team-stack.yaml";

const runCli = (args: readonly string[]) => runCliWithin(args, 10_000);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-render-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function jsonFile(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

describe("plan", () => {
  it("puts mysql before php and devrim in JSON, with levels and the critical path", async () => {
    const result = await runCli(["plan", EXAMPLE, "--format", "json"]);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as {
      order: string[];
      levels: string[][];
      criticalPath: string[];
      servers: Array<{ name: string; dependsOn: string[] }>;
      preHooks: unknown[];
      postHooks: Array<{ type: string }>;
    };
    expect(plan.order[0]).toBe("mysql");
    expect(plan.order.indexOf("mysql")).toBeLessThan(plan.order.indexOf("php"));
    expect(plan.order.indexOf("mysql")).toBeLessThan(plan.order.indexOf("devrim"));
    expect(plan.levels).toEqual([["mysql"], ["php", "devrim"]]);
    expect(plan.criticalPath[0]).toBe("mysql");
    expect(plan.criticalPath).toHaveLength(2);
    expect(["php", "devrim"]).toContain(plan.criticalPath[1]);
    expect(plan.servers.map((s) => [s.name, s.dependsOn])).toEqual([
      ["mysql", []],
      ["php", ["mysql"]],
      ["devrim", ["mysql"]],
    ]);
    expect(plan.preHooks).toHaveLength(1);
    expect(plan.postHooks.map((h) => h.type)).toEqual([
      "add_github_user",
      "run_script",
      "run_script",
      "send_tweet",
      "slack_msg",
    ]);
  });

  it("shows the levels and what each server waits for as text (the default)", async () => {
    const result = await runCli(["plan", EXAMPLE]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("3 servers in 2 levels");
    expect(result.stdout).toMatch(/php .*waits for mysql/);
    expect(result.stdout).toMatch(/devrim .*waits for mysql/);
    expect(result.stdout).toContain("run_script on php");
  });

  it("draws the edges in Mermaid", async () => {
    const result = await runCli(["plan", EXAMPLE, "--format", "mermaid"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^flowchart LR/);
    expect(result.stdout).toContain("s_mysql --> s_php");
    expect(result.stdout).toContain("s_mysql --> s_devrim");
  });

  it("draws the edges in DOT", async () => {
    const result = await runCli(["plan", EXAMPLE, "-f", "dot"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^digraph stack \{/);
    expect(result.stdout).toMatch(/"mysql" -> "php"/);
    expect(result.stdout).toMatch(/"mysql" -> "devrim"/);
  });

  it("exits 2 for an unknown format", async () => {
    const result = await runCli(["plan", EXAMPLE, "--format", "yaml"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown format `yaml`");
  });

  it("exits 1 with the template's problems for a bad template", async () => {
    const result = await runCli(["plan", "test/fixtures/bad/31-cycle-of-2.yaml"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("dependency cycle: api → db → api");
    expect(result.stdout).toBe("");
  });
});

describe("render", () => {
  it("renders a server's user_data with placeholders when no artifacts are given", async () => {
    const result = await runCli(["render", EXAMPLE, "--server", "php"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("echo <mysql.IP> >> /etc/config\necho foo\n");
  });

  it("renders a server's user_data with the artifacts given", async () => {
    const artifacts = await jsonFile("artifacts.json", '{"mysql":{"IP":"10.0.0.5"}}');
    const result = await runCli(["render", EXAMPLE, "--server", "php", "--artifacts", artifacts]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("echo 10.0.0.5 >> /etc/config\necho foo\n");
  });

  it("renders a hook's parameters as JSON with the member's data", async () => {
    const userdata = await jsonFile("userdata.json", '{"github_username":"ada"}');
    const result = await runCli(["render", EXAMPLE, "--hook", "pre:0", "--userdata", userdata]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      type: "add_github_user",
      org: "koding",
      team_name: "backend",
      user: "ada",
    });
  });

  it("renders post hook 2 with placeholders, then with artifacts", async () => {
    const placeholders = await runCli(["render", EXAMPLE, "--hook", "post:2"]);
    expect(placeholders.code).toBe(0);
    expect(JSON.parse(placeholders.stdout)).toEqual({
      type: "run_script",
      target_server: "php",
      script: "echo naber fatih <mysql.IP>\necho <domainName>\ngit clone https://github.com/koding/koding\n",
    });
    const artifacts = await jsonFile(
      "stack-artifacts.json",
      '{"mysql":{"IP":"10.0.0.5"},"domainName":"ada.example.com"}',
    );
    const rendered = await runCli(["render", EXAMPLE, "--hook", "post:2", "--artifacts", artifacts]);
    expect(rendered.code).toBe(0);
    expect((JSON.parse(rendered.stdout) as { script: string }).script).toBe(
      "echo naber fatih 10.0.0.5\necho ada.example.com\ngit clone https://github.com/koding/koding\n",
    );
  });

  it("exits 1 naming a reference the artifacts cannot resolve", async () => {
    const artifacts = await jsonFile("no-ip.json", '{"mysql":{"PrivateIP":"10.0.0.5"}}');
    const result = await runCli(["render", EXAMPLE, "--server", "php", "--artifacts", artifacts]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot resolve `$servers.mysql.IP`");
    expect(result.stdout).toBe("");
  });

  it("exits 2 for a malformed --hook", async () => {
    const result = await runCli(["render", EXAMPLE, "--hook", "post:x"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--hook `post:x`: expected pre:N, post:N or destroy:N");
  });

  it("exits 2 for a hook number past the last hook", async () => {
    const result = await runCli(["render", EXAMPLE, "--hook", "post:5"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("has 5 post_hooks");
  });

  it("exits 2 naming the servers for an unknown server", async () => {
    const result = await runCli(["render", EXAMPLE, "--server", "redis"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "no server `redis` in examples/team-stack.yaml; servers are: mysql, php, devrim",
    );
  });

  it("exits 2 when neither --server nor --hook is given", async () => {
    const result = await runCli(["render", EXAMPLE]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("give exactly one of --server or --hook");
  });

  it("exits 2 for an artifacts file that is not JSON", async () => {
    const artifacts = await jsonFile("not-json.json", "mysql: 10.0.0.5\n");
    const result = await runCli(["render", EXAMPLE, "--server", "php", "--artifacts", artifacts]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${artifacts}: not valid JSON`);
  });

  it("exits 2 for artifacts of the wrong shape", async () => {
    const artifacts = await jsonFile("list.json", '{"mysql":{"IP":5}}');
    const result = await runCli(["render", EXAMPLE, "--server", "php", "--artifacts", artifacts]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("`mysql.IP` is not a string");
  });
});
