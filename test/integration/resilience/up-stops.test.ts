import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { isRunning, readDaemonInfo, storePaths } from "../../../src/local/dynamo/files.ts";
import { openLocalEngine } from "../../../src/local/engine.ts";
import { checkedFetch } from "../../support/openapi-check.ts";
import {
  type ListRow,
  listStacks,
  type RunningCli,
  runCli,
  shown,
  startCli,
  tearDown,
  tempStateDir,
  until,
} from "../cli-stack/stack-cli.ts";

// `teamstack up` stopped mid-run: its store daemon killed, or Ctrl-C / a closed terminal. It says
// what happened, what it left running and what to run next, and exits; `rerun` takes over.

/** `a` is ready fast; `b` boots for a while after it, so a run is mid-way once b is being created. */
const TEMPLATE = `
servers:
  - { name: a, provider: sim, type: t3.micro, options: { boot_ms: 50 } }
  - { name: b, provider: sim, type: t3.micro, depends_on: [a], options: { boot_ms: 1500 } }
  - { name: c, provider: sim, type: t3.micro, depends_on: [b] }
`;

let stateDir: string;
let file: string;

beforeAll(async () => {
  stateDir = await tempStateDir("up-stops");
  file = join(stateDir, "chain.yaml");
  await writeFile(file, TEMPLATE);
});

afterAll(async () => {
  await tearDown(stateDir);
}, 120_000);

/** Starts `up` (progress on stderr) and resolves once it prints that `b` is being created. */
async function upMidRun(member: string): Promise<RunningCli> {
  const up = startCli(["up", file, "--member", member, "--state-dir", stateDir], 120_000);
  await until(
    "up to start creating b",
    async () => (/ b: creating$/m.test(up.stderr()) ? true : undefined),
    60_000,
  );
  return up;
}

async function rowOf(member: string): Promise<ListRow & { run?: number; execution?: string }> {
  const rows = (await listStacks(stateDir)).filter((r) => r.member === member);
  expect(rows).toHaveLength(1);
  return rows[0] as ListRow;
}

async function expectRerunTakesOver(stackId: string, run: number): Promise<void> {
  const r = await runCli(["rerun", stackId, "--state-dir", stateDir], 60_000);
  expect(r.code, shown(r)).toBe(0);
  expect(r.stderr).toContain(`run ${run} (`);
  expect(r.stderr).toContain(`is no longer running; run ${run + 1} takes over`);
  expect(r.stdout).toMatch(new RegExp(`stack ${stackId} .*: SUCCEEDED`));
}

/** The stack's status, and its row in the list, as the HTTP API shows them to its member. */
async function apiStatusOf(stackId: string, member: string): Promise<{ one: unknown; row: unknown }> {
  const engine = await openLocalEngine({ stateDir });
  const server = await startLocalApiServer({ engine, port: 0, log: () => undefined });
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = await signJwt(
      { sub: member, "teamstack:team": "local", iat: now, exp: now + 600 },
      await signingKey(signingKeyFile(stateDir)),
    );
    const get = async (path: string) =>
      (await checkedFetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();
    const one = ((await get(`/teams/local/stacks/${stackId}`)) as { status: string }).status;
    const rows = (await get("/teams/local/stacks")) as { stackId: string; status: string }[];
    return { one, row: rows.find((r) => r.stackId === stackId)?.status };
  } finally {
    await server.close();
    await engine.close();
  }
}

describe("`teamstack up` stopped mid-run", () => {
  it("exits within 30 s of its store daemon being killed, saying what to run next; rerun takes over", async () => {
    const up = await upMidRun("storelost");
    const daemon = await readDaemonInfo(storePaths(stateDir).info);
    process.kill(daemon?.pid as number, "SIGKILL");
    const killedAt = Date.now();
    const r = await up.done;
    const took = Date.now() - killedAt;
    expect(took, shown(r)).toBeLessThan(30_000);
    expect(r.code, shown(r)).toBe(1);
    expect(await isRunning(daemon?.pid as number)).toBe(false);
    const stackId = /^stack (\S+): provisioning/m.exec(r.stderr)?.[1] as string;
    expect(r.stderr).toContain(
      `teamstack up: the local store stopped: its daemon (pid ${daemon?.pid}) exited`,
    );
    expect(r.stderr).toContain(`stack ${stackId} stopped mid-run; what it left running:\n  a\n  b\n`);
    expect(r.stderr).toContain(`resume it:     npx teamstack rerun ${stackId} --state-dir ${stateDir}\n`);
    expect(r.stderr).toContain(`tear it down:  npx teamstack down ${stackId} --state-dir ${stateDir}\n`);
    expect(r.stderr).not.toMatch(/internal error|unhandled/i);

    // The next command starts the store again: the stack shows as interrupted, with its run.
    const row = await rowOf("storelost");
    expect(row).toMatchObject({ stackId, status: "INTERRUPTED", run: 1 });
    expect(row.execution).toMatch(new RegExp(`^local:${up.child.pid}:`));
    await expectRerunTakesOver(stackId, 1);
  }, 120_000);

  for (const signal of ["SIGINT", "SIGHUP"] as const) {
    it(`says on ${signal} what it left running and how to resume and tear it down`, async () => {
      const member = `stop${signal.toLowerCase()}`;
      const up = await upMidRun(member);
      up.child.kill(signal);
      const r = await up.done;
      expect(r.code, shown(r)).toBe(signal === "SIGINT" ? 130 : 129);
      const stackId = /^stack (\S+): provisioning/m.exec(r.stderr)?.[1] as string;
      expect(r.stderr).toMatch(
        new RegExp(
          `teamstack up: interrupted \\(${signal}\\) while provisioning stack ${stackId}; what it left running:\\n  a +SUCCEEDED +10\\.[\\d.]+  sim-\\w+\\n  b +CREATING`,
        ),
      );
      expect(r.stderr).toContain(`resume it:     npx teamstack rerun ${stackId} --state-dir ${stateDir}\n`);
      expect(r.stderr).toContain(`tear it down:  npx teamstack down ${stackId} --state-dir ${stateDir}\n`);
      // Nothing is printed after the report.
      expect(r.stderr.trimEnd().endsWith(`npx teamstack down ${stackId} --state-dir ${stateDir}`)).toBe(true);

      const status = await runCli(["status", stackId, "--state-dir", stateDir]);
      expect(status.stdout).toMatch(new RegExp(`^stack ${stackId} .*run 1\\): INTERRUPTED$`, "m"));
      expect((await rowOf(member)).status).toBe("INTERRUPTED");
      expect(await apiStatusOf(stackId, member)).toEqual({ one: "INTERRUPTED", row: "INTERRUPTED" });
      await expectRerunTakesOver(stackId, 1);
    }, 120_000);
  }
});
