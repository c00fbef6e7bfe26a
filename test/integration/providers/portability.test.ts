import { readdirSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StackStatusView } from "../../../src/pipeline/status.ts";
import { LABELS } from "../../../src/providers/docker/docker-provider.ts";
import { checkLocalSupport } from "../../../src/providers/local/support.ts";
import { fetchText } from "../../support/http.ts";
import { labelled, type PodmanService, podmanMissing, startPodman } from "../../support/podman.ts";
import { registerSshHost } from "../../support/ssh-hosts.ts";
import { sshdTestsRun, startSshd, type TestSshd } from "../../support/sshd.ts";
import {
  finalJson,
  runCli,
  sandboxDirs,
  sandboxProcesses,
  serverOf,
  shown,
  tearDown,
  tempStateDir,
} from "../cli-stack/stack-cli.ts";

// One template, three providers: examples/portable.yaml runs unchanged but for `provider:` on
// local, docker and ssh. `web` serves a page, `client` reaches it at $servers.web.IP, a post-hook
// reads the reply; `down` then leaves nothing behind on each (no process of the stack on this
// machine, no sandbox; no container, network or volume; no directory on the SSH host).

const TEMPLATE = readFileSync(new URL("../../../examples/portable.yaml", import.meta.url), "utf8");

/** The template with every server on `provider`: the only line that changes. */
function on(provider: string): string {
  const out = TEMPLATE.replaceAll(/^(\s+provider:) local$/gm, `$1 ${provider}`);
  expect(out.match(new RegExp(`provider: ${provider}$`, "gm"))).toHaveLength(2);
  return out;
}

/** The processes of this machine whose environment names the stack (every provider sets TEAMSTACK_STACK_ID). */
function processesOf(stackId: string): number[] {
  const mark = `TEAMSTACK_STACK_ID=${stackId}`;
  const found: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(mark)) found.push(Number(pid));
    } catch {
      // Gone meanwhile, or not readable: not the stack's.
    }
  }
  return found;
}

interface Case {
  readonly provider: string;
  /** Starts what the provider needs; answers the environment for teamstack. */
  setup(stateDir: string): Promise<NodeJS.ProcessEnv>;
  /** What the provider left of the stack after `down` (empty when nothing). */
  left(stateDir: string, stackId: string): Promise<string[]>;
  stop(): Promise<void>;
}

const localMissing = await checkLocalSupport().then(
  () => undefined,
  (err: Error) => err.message,
);
const dockerMissing = await podmanMissing();
const sshRuns = sshdTestsRun("the portability test on ssh");
if (localMissing && process.env.CI)
  throw new Error(`the portability test needs local sandboxes: ${localMissing}`);

let podman: PodmanService | undefined;
let sshd: TestSshd | undefined;

const CASES: readonly (Case & { readonly skip: string | undefined })[] = [
  {
    provider: "local",
    skip: localMissing,
    setup: async () => ({ ...process.env }),
    left: async (stateDir, stackId) => [
      ...(await sandboxDirs(stateDir, stackId)).map((d) => `sandbox directory ${d}`),
      ...(await sandboxProcesses(stateDir)).map((p) => `sandbox process ${p.pid}`),
    ],
    stop: async () => {},
  },
  {
    provider: "docker",
    skip: dockerMissing,
    setup: async () => {
      podman = await startPodman();
      return { ...process.env, ...podman.env };
    },
    left: async (_stateDir, stackId) => {
      const n = await labelled((podman as PodmanService).engine, [`${LABELS.stack}=${stackId}`]);
      return Object.entries(n)
        .filter(([, count]) => count > 0)
        .map(([kind, count]) => `${count} ${kind}`);
    },
    stop: async () => {
      await podman?.stop();
    },
  },
  {
    provider: "ssh",
    skip: sshRuns ? undefined : "no sshd",
    setup: async (stateDir) => {
      sshd = await startSshd("port");
      return registerSshHost(stateDir, "local", "box", sshd.fields());
    },
    left: async () => {
      const root = join((sshd as TestSshd).home, "servers");
      try {
        return readdirSync(root).map((d) => `directory ${d} on the host`);
      } catch {
        return [];
      }
    },
    stop: async () => {
      await sshd?.stop();
    },
  },
];

for (const c of CASES) {
  describe.skipIf(c.skip !== undefined)(
    `examples/portable.yaml on ${c.provider}`,
    { timeout: 240_000 },
    () => {
      let stateDir: string;
      let env: NodeJS.ProcessEnv;
      let file: string;
      let view: StackStatusView;

      beforeAll(async () => {
        stateDir = await tempStateDir(`portable-${c.provider}`);
        env = await c.setup(stateDir);
        file = join(stateDir, "portable.yaml");
        await writeFile(file, on(c.provider));
      }, 180_000);

      afterAll(async () => {
        try {
          if (stateDir) await tearDown(stateDir);
        } finally {
          await c.stop();
        }
      }, 180_000);

      it("runs unchanged but for `provider:`: the client reaches web at its IP and the post-hook reads the reply", async () => {
        const r = await runCli(["up", file, "--json", "--state-dir", stateDir], 180_000, env);
        expect(r.code, shown(r)).toBe(0);
        view = finalJson(r.stdout) as StackStatusView;
        expect(view.status).toBe("SUCCEEDED");
        for (const s of view.servers) expect(s.provider, s.name).toBe(c.provider);
        expect(view.hooks).toEqual([
          expect.objectContaining({ phase: "post", type: "run_script", status: "SUCCEEDED", exitCode: 0 }),
        ]);
        expect(view.hooks[0]?.output).toContain("hello from web");
        // web's server, started by its user_data, keeps running after `up` has exited.
        const url = `http://${serverOf(view, "web").artifacts.IP}:8080/`;
        expect(await fetchText(url, 5_000)).toEqual({ body: "hello from web\n" });
        expect(processesOf(view.stackId).length).toBeGreaterThan(0);
        // The client kept web's address in a file of its own working directory.
        const logs = await runCli(
          ["exec", view.stackId, "client", "--state-dir", stateDir, "--", "cat", "config"],
          60_000,
          env,
        );
        expect(logs.code, shown(logs)).toBe(0);
        expect(logs.stdout).toContain(`web=${serverOf(view, "web").artifacts.IP}`);
      }, 200_000);

      it("`down` leaves nothing behind", async () => {
        const r = await runCli(["down", view.stackId, "--state-dir", stateDir], 180_000, env);
        expect(r.code, shown(r)).toBe(0);
        expect(processesOf(view.stackId)).toEqual([]);
        expect(await c.left(stateDir, view.stackId)).toEqual([]);
        const status = await runCli(["status", view.stackId, "--json", "--state-dir", stateDir], 60_000, env);
        expect((finalJson(status.stdout) as StackStatusView).status).toBe("DESTROYED");
        expect(await readFile(file, "utf8")).toBe(on(c.provider));
      }, 200_000);
    },
  );
}
