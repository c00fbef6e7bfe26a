import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { fetchText } from "../../support/http.ts";
import {
  finalJson,
  runCli,
  sandboxProcesses,
  serverOf,
  shown,
  stackEvents,
  tearDown,
  tempStateDir,
} from "../cli-stack/stack-cli.ts";

// Real sandboxes stopped and started through `teamstack stop` and `start`: files stay, processes
// end, Ids and addresses stay, and on_start runs again (after user_data the first time).

const TEMPLATE = `servers:
  - name: web
    provider: local
    type: sandbox
    user_data: |
      mkdir -p /srv/www && echo "written by user_data" > /srv/www/data.txt
    on_start: |
      echo "start of $TEAMSTACK_SERVER" >> /srv/www/starts.log
      cd /srv/www && nohup node -e 'require("http").createServer((q, s) => s.end(require("fs").readFileSync("data.txt"))).listen(8080, process.env.TEAMSTACK_IP)' >/tmp/web.log 2>&1 &
      sleep 0.5
  - name: client
    provider: local
    type: sandbox
    on_start: |
      echo "web=$servers.web.IP" >> /etc/config
`;

describe("teamstack stop and start on local sandboxes", () => {
  let stateDir: string;
  let file: string;
  let view: StackStatusView;
  const root = (server: string, path: string) =>
    join(stateDir, "sandboxes", view.stackId, server, "root", path);

  beforeAll(async () => {
    stateDir = await tempStateDir("local-power");
    file = join(stateDir, "power.yaml");
    await writeFile(file, TEMPLATE);
  });
  afterAll(async () => {
    await tearDown(stateDir);
  });

  it("runs on_start once user_data has succeeded, in dependency order", async () => {
    const r = await runCli(["up", file, "--json", "--state-dir", stateDir], 120_000);
    expect(r.code, shown(r)).toBe(0);
    view = finalJson(r.stdout) as StackStatusView;
    expect(view.status).toBe("SUCCEEDED");
    expect(await readFile(root("web", "srv/www/starts.log"), "utf8")).toBe("start of web\n");
    const webIp = serverOf(view, "web").artifacts.IP as string;
    expect(await readFile(root("client", "etc/config"), "utf8")).toContain(`web=${webIp}\n`);
    expect(await fetchText(`http://${webIp}:8080/`)).toEqual({ body: "written by user_data\n" });
    const events = await stackEvents(stateDir, view);
    const order = events
      .filter((e) => e.type === "OnStartRan" || e.type === "ServerReady")
      .map((e) => `${e.type}:${e.server}`);
    // web is ready (after its on_start) before client's on_start runs.
    expect(order.indexOf("ServerReady:web")).toBeLessThan(order.indexOf("OnStartRan:client"));
  }, 150_000);

  it("stops: every process of the sandboxes ends, their files stay, the stack and servers are STOPPED", async () => {
    const before = (await sandboxProcesses(stateDir)).length;
    expect(before).toBeGreaterThan(0);
    const r = await runCli(["stop", view.stackId, "--json", "--state-dir", stateDir], 120_000);
    expect(r.code, shown(r)).toBe(0);
    const stopped = finalJson(r.stdout) as StackStatusView;
    expect(stopped.status).toBe("STOPPED");
    for (const s of stopped.servers) expect(s.status, s.name).toBe("STOPPED");
    expect(await sandboxProcesses(stateDir)).toEqual([]);
    expect(await fetchText(`http://${serverOf(view, "web").artifacts.IP}:8080/`)).toEqual({
      error: "ECONNREFUSED",
    });
    expect(await readFile(root("web", "srv/www/data.txt"), "utf8")).toBe("written by user_data\n");
    // A stopped sandbox runs no script: a run_script hook or rerun would have to start it first.
    const rerun = await runCli(["rerun", view.stackId, "--state-dir", stateDir]);
    expect(rerun.code).toBe(2);
    expect(rerun.stderr).toContain("start it first");
  }, 150_000);

  it("starts again with the same Ids and IPs, the file user_data wrote, and on_start run again", async () => {
    const r = await runCli(["start", view.stackId, "--json", "--state-dir", stateDir], 120_000);
    expect(r.code, shown(r)).toBe(0);
    const started = finalJson(r.stdout) as StackStatusView;
    expect(started.status).toBe("SUCCEEDED");
    for (const s of view.servers) {
      const now = serverOf(started, s.name);
      expect(now.status, s.name).toBe("SUCCEEDED");
      expect(now.artifacts.Id, s.name).toBe(s.artifacts.Id);
      expect(now.artifacts.IP, s.name).toBe(s.artifacts.IP);
    }
    expect(await readFile(root("web", "srv/www/starts.log"), "utf8")).toBe("start of web\nstart of web\n");
    const webIp = serverOf(view, "web").artifacts.IP as string;
    expect(await readFile(root("client", "etc/config"), "utf8")).toBe(`web=${webIp}\nweb=${webIp}\n`);
    // on_start started web's server again, serving the file user_data wrote before the stop.
    expect(await fetchText(`http://${webIp}:8080/`)).toEqual({ body: "written by user_data\n" });
    const events = await stackEvents(stateDir, view);
    expect(events.filter((e) => e.type === "OnStartRan")).toHaveLength(4);
  }, 150_000);

  it("fails a start whose on_start exits non-zero, naming the server and its output", async () => {
    const broken = join(stateDir, "broken.yaml");
    await writeFile(
      broken,
      "servers:\n  - name: box\n    provider: local\n    type: sandbox\n    on_start: |\n      echo cannot start\n      exit 3\n",
    );
    const r = await runCli(["up", broken, "--json", "--state-dir", stateDir], 120_000);
    expect(r.code).toBe(1);
    const failed = finalJson(r.stdout) as StackStatusView;
    expect(failed.status).toBe("FAILED");
    expect(serverOf(failed, "box").error).toContain("on_start of box exited with code 3");
    expect(serverOf(failed, "box").error).toContain("cannot start");
  }, 150_000);
});
