import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { fetchText } from "../../support/http.ts";
import { finalJson, runCli, serverOf, shown, tearDown, tempStateDir } from "./stack-cli.ts";

// Two real sandboxes talking over the loopback network, driven through `teamstack up` and `down`.

describe("teamstack up examples/local-pair.yaml", () => {
  let stateDir: string;
  let view: StackStatusView;

  beforeAll(async () => {
    stateDir = await tempStateDir("local-pair");
  });
  afterAll(async () => {
    await tearDown(stateDir);
  });

  it("lets the client reach web at $servers.web.IP from the post-hook", async () => {
    const r = await runCli(["up", "examples/local-pair.yaml", "--json", "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(0);
    view = finalJson(r.stdout) as StackStatusView;
    expect(view.status).toBe("SUCCEEDED");
    for (const s of view.servers) {
      expect(s.provider, s.name).toBe("local");
      expect(s.artifacts.IP, s.name).toMatch(/^127\.\d+\.\d+\.\d+$/);
    }
    const webIp = serverOf(view, "web").artifacts.IP as string;
    expect(serverOf(view, "client").artifacts.IP).not.toBe(webIp);
    expect(view.hooks).toEqual([
      expect.objectContaining({
        phase: "post",
        index: 0,
        type: "run_script",
        status: "SUCCEEDED",
        exitCode: 0,
      }),
    ]);
    expect(view.hooks[0]?.output).toContain("hello from web");

    const config = await readFile(
      join(stateDir, "sandboxes", view.stackId, "client", "root", "etc", "config"),
      "utf8",
    );
    expect(config).toContain(`web=${webIp}`);
  });

  it("keeps web's background HTTP server running after `up` has exited, until `down`", async () => {
    const url = `http://${serverOf(view, "web").artifacts.IP}:8080/`;
    expect(await fetchText(url)).toEqual({ body: "hello from web\n" });

    const r = await runCli(["down", view.stackId, "--state-dir", stateDir]);
    expect(r.code, shown(r)).toBe(0);
    expect(await fetchText(url)).toEqual({ error: "ECONNREFUSED" });
  });
});
