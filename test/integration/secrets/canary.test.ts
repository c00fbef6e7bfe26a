import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { ensureLocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import { stackStatus } from "../../../src/pipeline/status.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";

// A canary secret used as $koding.userdata.CANARY, echoed by user_data (of a server that works and
// of one that fails) and by a run_script hook, must appear nowhere but in the encrypted secrets file.
const CANARY = `canary-${randomBytes(12).toString("hex")}`;
let stateDir: string;
let engine: LocalEngine;
const history: unknown[] = [];
const logs: string[] = [];
const key = { team: "acme", stackId: "canary-1" };
const failing = { team: "acme", stackId: "canary-2" };

const TEMPLATE = [
  "servers:",
  "  - name: box",
  "    provider: local",
  "    type: sandbox",
  "    user_data: |",
  '      echo "boot $koding.userdata.CANARY"',
  "post_hooks:",
  "  - run_script: { target_server: box, script: 'echo \"hook $koding.userdata.CANARY\"' }",
].join("\n");
const FAILING = [
  "servers:",
  "  - name: bad",
  "    provider: local",
  "    type: sandbox",
  "    user_data: |",
  '      echo "failing with $koding.userdata.CANARY"',
  "      exit 3",
].join("\n");

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-canary-"));
  const set = spawnSync(
    process.execPath,
    [BIN, "secrets", "set", "--team", "acme", "--member", "alice", "CANARY", "--state-dir", stateDir],
    { cwd: ROOT, input: `${CANARY}\n`, encoding: "utf8" },
  );
  expect(set.status).toBe(0);
  logs.push(set.stdout, set.stderr);
  engine = await openLocalEngine({ stateDir });
  const now = new Date().toISOString();
  for (const [k, yaml] of [
    [key, TEMPLATE],
    [failing, FAILING],
  ] as const) {
    await engine.store.createStack({
      ...k,
      member: "alice",
      status: "RUNNING",
      run: 0,
      templateYaml: yaml,
      templateFile: "canary.yaml",
      templateHash: createHash("sha256").update(yaml).digest("hex"),
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
    });
  }
  expect((await engine.provision(key, { onHistory: (e) => history.push(e) })).status).toBe("SUCCEEDED");
  const failed = await engine.provision(failing, { onHistory: (e) => history.push(e) });
  expect(failed.status).toBe("FAILED");
  // The failure's cause travelled through the state machine: it must be masked too.
  expect(failed.status === "FAILED" ? failed.cause : "").toContain("failing with ***");
});

afterAll(async () => {
  await engine?.destroy(key);
  await engine?.destroy(failing);
  await engine?.close();
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

describe("a secret used by a stack", () => {
  it("reaches user_data and scripts, whose captured output shows *** instead", async () => {
    const view = await stackStatus(engine.store, key);
    const box = view?.servers.find((s) => s.name === "box");
    const bad = (await stackStatus(engine.store, failing))?.servers.find((s) => s.name === "bad");
    expect(box?.status).toBe("SUCCEEDED");
    expect(bad?.status).toBe("FAILED");
    // The failing user_data's output tail is in the error, masked.
    expect(bad?.error).toContain("failing with ***");
    expect(view?.hooks[0]?.output).toBe("hook ***\n");
    // The sandbox really got the value: the holder masked it in the log it keeps on disk, which
    // it does only where the value itself was printed.
    const sandboxLog = readFileSync(join(stateDir, "sandboxes", key.stackId, "box", "output.log"), "utf8");
    expect(sandboxLog).toBe("boot ***\n");
  });

  it("appears nowhere: status, events, store items, execution history, API responses, CLI output", async () => {
    const view = [await stackStatus(engine.store, key), await stackStatus(engine.store, failing)];
    const events = [await engine.store.listEvents(key), await engine.store.listEvents(failing)];
    const outbound = await engine.store.listOutboundEvents();
    const { client, tableName } = await ensureLocalStore(stateDir);
    const items = await client.send(new ScanCommand({ TableName: tableName }));

    const server = await startLocalApiServer({ engine, port: 0, log: (l) => logs.push(l) });
    try {
      const k = await signingKey(signingKeyFile(stateDir));
      const token = signJwt({ sub: "alice", "teamstack:team": "acme", "teamstack:admin": true }, k);
      const get = async (path: string) =>
        (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
      const api = [
        await get(`/teams/acme/stacks/${key.stackId}`),
        await get(`/teams/acme/stacks/${key.stackId}/events`),
        await get(`/teams/acme/stacks/${failing.stackId}`),
        await get("/teams/acme/stacks"),
      ];
      const cli = [
        await runCli(["status", key.stackId, "--json", "--state-dir", stateDir]),
        await runCli(["secrets", "list", "--json", "--state-dir", stateDir]),
        await runCli(["events", "list", "--json", "--state-dir", stateDir]),
      ];
      expect(cli[1]?.stdout).toContain("CANARY");
      const everything = JSON.stringify({ view, events, outbound, items, history, api, cli, logs });
      expect(everything.length).toBeGreaterThan(1000);
      expect(everything).not.toContain(CANARY);
    } finally {
      await server.close();
    }
  });

  it("is stored only encrypted: no file of the state directory holds it, the sandboxes' included", () => {
    const holders = filesUnder(stateDir).filter((f) => readFileSync(f).includes(CANARY));
    expect(holders).toEqual([]);
  });
});
