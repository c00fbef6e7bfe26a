import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { finalJson, runCli } from "../../support/cli.ts";

// `up` checks what its servers need from the team (a registered ssh host, a Docker host) with the
// store open, and refuses before it writes anything: no stack, no template version.
let stateDir: string;

const cli = (args: string[]) => runCli([...args, "--state-dir", stateDir], 90_000);

function template(name: string, lines: string[]): string {
  const file = join(stateDir, `${name}.yaml`);
  writeFileSync(file, ["servers:", ...lines, ""].join("\n"));
  return file;
}

beforeAll(() => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-up-preflight-"));
});

afterAll(async () => {
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("up's preflight with the team's credentials", () => {
  it("refuses an ssh host the team has not registered, and a pool it has none in, writing nothing", async () => {
    const named = template("devbox", [
      "  - { name: a, provider: ssh, type: host, options: { host: nowhere } }",
    ]);
    const r = await cli(["up", named, "--team", "acme"]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/team `acme` has no ssh host `nowhere` \(used by a\)/);
    expect(r.stderr).toContain("PUT /teams/acme/credentials/NAME");
    expect(r.stderr).not.toMatch(/stack \S+: provisioning/);

    const pooled = template("pooled", ["  - { name: b, provider: ssh, type: host }"]);
    const p = await cli(["up", pooled, "--team", "acme"]);
    expect(p.code, p.stderr).not.toBe(0);
    expect(p.stderr).toMatch(/servers b run on one of team `acme`'s ssh hosts, and it has registered none/);

    const list = await cli(["list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("refuses a Docker credential the team has not registered, before any engine is asked", async () => {
    const file = template("containers", [
      "  - { name: c, provider: docker, type: container, options: { credential: remote } }",
    ]);
    const r = await cli(["up", file, "--team", "acme"]);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain("team `acme` has no Docker credential `remote`");
    const list = await cli(["list", "--json"]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("publishes no version of a refused file: the same name's first good run is version 1", async () => {
    const file = template("devbox", ["  - { name: a, provider: sim, type: t3.micro }"]);
    const r = await cli(["up", file, "--team", "acme", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const status = finalJson<{
      stackId: string;
      status: string;
      template: { name: string; version: number };
    }>(r.stdout);
    expect(status.status).toBe("SUCCEEDED");
    expect(status.template).toMatchObject({ name: "devbox", version: 1 });
    const down = await cli(["down", status.stackId]);
    expect(down.code, down.stderr).toBe(0);
  });
});
