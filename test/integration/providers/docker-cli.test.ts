import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../../src/providers/docker/docker-provider.ts";
import { labelled, type PodmanService, podmanMissing, startPodman } from "../../support/podman.ts";
import { runCli, shown, startCli, tearDown, tempStateDir, until } from "../cli-stack/stack-cli.ts";

// The docker provider through the real pipeline: `teamstack up` of a small template, killed
// (SIGKILL) once a container exists, then `rerun`; exec, stop/start with on_start, and down.

const missing = await podmanMissing();
if (missing) console.warn(`skipping docker CLI tests: ${missing}`);

/** `a` listens; `b` reaches it at its IP and keeps the reply; b's user_data takes a while, so a run is mid-way once b exists. */
const TEMPLATE = `
servers:
  - name: a
    provider: docker
    type: 1cpu/128mb-ram
    user_data: |
      echo a-was-here > /root/mark
      nc -ll -p 8080 -e echo pong-from-a > /dev/null 2>&1 &
  - name: b
    provider: docker
    type: container
    user_data: |
      busybox nc -w 5 $servers.a.IP 8080 > /root/reply
      sleep 3
      echo b done
    on_start: |
      echo started >> /root/starts
`;

let podman: PodmanService;
let stateDir: string;
let file: string;

interface Container {
  Id: string;
  Labels: Record<string, string>;
}

async function containersOf(stackId: string): Promise<Container[]> {
  return podman.engine.json<Container[]>("GET", "/containers/json", {
    query: { all: true, filters: JSON.stringify({ label: [podman.label, `${LABELS.stack}=${stackId}`] }) },
  });
}

describe.skipIf(missing !== undefined)("docker stacks through the CLI", { timeout: 240_000 }, () => {
  beforeAll(async () => {
    podman = await startPodman();
    Object.assign(process.env, podman.env);
    stateDir = await tempStateDir("docker-cli");
    file = join(stateDir, "pair.yaml");
    await writeFile(file, TEMPLATE);
  }, 180_000);

  afterAll(async () => {
    if (stateDir) await tearDown(stateDir);
    await podman?.stop();
  }, 180_000);

  it("converges after `up` is killed mid-run: rerun finds both containers, creates none twice; exec, stop/start and down work", async () => {
    const up = startCli(["up", file, "--member", "ada", "--state-dir", stateDir], 180_000);
    const stackId = await until(
      "up to name its stack",
      async () => /^stack (\S+): provisioning/m.exec(up.stderr())?.[1],
      120_000,
    );
    // Killed once b's container exists (its user_data still running).
    const before = await until(
      "b's container",
      async () => {
        const found = await containersOf(stackId);
        return found.some((c) => c.Labels[LABELS.server] === "b") ? found : undefined;
      },
      120_000,
    );
    up.child.kill("SIGKILL");
    await up.done;

    const r = await runCli(["rerun", stackId, "--state-dir", stateDir], 180_000);
    expect(r.code, shown(r)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`stack ${stackId} .*: SUCCEEDED`));
    const after = await containersOf(stackId);
    expect(after.map((c) => c.Labels[LABELS.server]).sort()).toEqual(["a", "b"]);
    for (const c of before) expect(after.map((x) => x.Id)).toContain(c.Id);

    const reply = await runCli(
      ["exec", stackId, "b", "--state-dir", stateDir, "--", "cat", "/root/reply"],
      60_000,
    );
    expect(reply.code, shown(reply)).toBe(0);
    expect(reply.stdout).toBe("pong-from-a\n");
    // user_data's output reached b's log: the attempt the rerun followed has all of it (the killed
    // run's attempt, if it opened one, ended with it; on_start's attempt comes last).
    const attempts: string[] = [];
    for (let n = 1; n <= 4; n++) {
      const logs = await runCli(
        ["logs", stackId, "b", "--attempt", String(n), "--state-dir", stateDir],
        60_000,
      );
      if (logs.code !== 0) break;
      attempts.push(logs.stdout);
    }
    expect(
      attempts.some((text) => text.includes("b done")),
      attempts.join("\n---\n"),
    ).toBe(true);

    const stop = await runCli(["stop", stackId, "--state-dir", stateDir], 120_000);
    expect(stop.code, shown(stop)).toBe(0);
    const start = await runCli(["start", stackId, "--state-dir", stateDir], 120_000);
    expect(start.code, shown(start)).toBe(0);
    const kept = await runCli(
      ["exec", stackId, "a", "--state-dir", stateDir, "--", "cat", "/root/mark"],
      60_000,
    );
    expect(kept.stdout).toBe("a-was-here\n");
    const starts = await runCli(
      ["exec", stackId, "b", "--state-dir", stateDir, "--", "cat", "/root/starts"],
      60_000,
    );
    // on_start ran after user_data the first time, and again after the start.
    expect(starts.stdout).toBe("started\nstarted\n");

    const down = await runCli(["down", stackId, "--state-dir", stateDir], 120_000);
    expect(down.code, shown(down)).toBe(0);
    expect(await labelled(podman.engine, [`${LABELS.stack}=${stackId}`])).toEqual({
      containers: 0,
      networks: 0,
      volumes: 0,
    });
  });
});
