import { createHash } from "node:crypto";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { type AttributeValue, ScanCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../infra/teamstack-stack.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { createHookRunner } from "../../../src/hooks/runner.ts";
import {
  type LoadedMachine,
  loadMachine,
  runMachine,
  startingAt,
  type TaskFunction,
  TokenRegistry,
} from "../../../src/local/asl-runner.ts";
import type { PipelineDeps } from "../../../src/pipeline/context.ts";
import { stackStatus } from "../../../src/pipeline/status.ts";
import * as steps from "../../../src/pipeline/steps.ts";
import type { CreateServerRequest, Provider, ServerRef } from "../../../src/ports/provider.ts";
import type { Secrets } from "../../../src/ports/secrets.ts";
import type { StackKey } from "../../../src/ports/store.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { createSimProvider } from "../../../src/providers/sim/sim-provider.ts";
import { createDynamoStore, type DynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "../store/dynalite.ts";

// Compile once: Prepare is the only task that reads the template. Here the stored template is
// made unreadable the moment Prepare returns (and before a redrive), and the runs still complete
// from the records alone: servers, hooks, references, masking, rollback, redrive and status.

const TABLE = "teamstack-compiled";
const DB_PASSWORD = "s3cr3t-db-passw0rd";
const HOOK_KEY = "team-hook-signing-key";
const CORRUPT = "servers: [ this is : not { a template";

let db: TestDynalite;
let store: DynamoStore;
const registry = new TokenRegistry();
const running = new Set<string>();
const sim = createSimProvider({});
const created: CreateServerRequest[] = [];
const destroyed: ServerRef[] = [];
const posted: string[] = [];
let n = 0;

const secrets: Secrets = {
  async get(scope, name) {
    if (scope.member === "alice" && name === "db_password") return DB_PASSWORD;
    if (scope.member === undefined && name === "hook_key") return HOOK_KEY;
    return undefined;
  },
  async exists(scope, name) {
    return (await this.get(scope, name)) !== undefined;
  },
  async set() {},
  async list() {
    return [];
  },
  async remove() {
    return false;
  },
};

/** The sim provider, recording what it is asked to create and destroy. */
const recording: Provider = {
  name: "sim",
  async create(request) {
    created.push(request);
    return sim.create(request);
  },
  waitUntilReady: (ref, signal) => sim.waitUntilReady(ref, signal),
  runScript: (ref, script, options) => sim.runScript(ref, script, options),
  async destroy(ref) {
    destroyed.push(ref);
    return sim.destroy(ref);
  },
};

let deps: PipelineDeps;

/** Makes the stack's stored template unreadable: any task that parsed it would fail. */
async function corrupt(key: StackKey): Promise<void> {
  await store.updateStack(key, { templateYaml: CORRUPT, templateHash: `corrupt-${++n}` });
}

const machine = loadMachine(join(PROJECT_ROOT, "statemachines", "provision.asl.json"));

function functions(afterPrepare: (key: StackKey) => Promise<void>): Record<string, TaskFunction> {
  const bind =
    (step: (d: PipelineDeps, p: never) => Promise<unknown>): TaskFunction =>
    (p) =>
      step(deps, p as never);
  return {
    Prepare: async (p) => {
      const plan = await steps.prepare(deps, p as never);
      await afterPrepare(p as unknown as StackKey);
      return plan;
    },
    WaitForDependencies: bind(steps.waitForDependencies),
    CreateServer: bind(steps.createServer),
    WaitUntilReady: bind(steps.waitUntilReady),
    RunOnStart: bind(steps.runOnStart),
    PublishArtifacts: bind(steps.publishArtifacts),
    MarkServerFailed: bind(steps.markServerFailed),
    CheckServers: bind(steps.checkServers),
    RunHook: bind(steps.runHook),
    Finalize: bind(steps.finalize),
    OnFailure: bind(steps.onFailure),
    WaitForDependents: bind(steps.waitForDependents),
    DestroyServer: bind(steps.destroyServer),
    MarkDestroyFailed: bind(steps.markDestroyFailed),
    CheckRemoved: bind(steps.checkRemoved),
    Resume: bind(steps.resume),
  };
}

async function execute(m: LoadedMachine, input: Record<string, unknown>, executionId: string) {
  running.add(executionId);
  try {
    const { outcome } = await runMachine(m, input, {
      executionId,
      functions: functions(corrupt),
      tokens: registry,
    });
    return outcome;
  } finally {
    running.delete(executionId);
  }
}

async function newStack(yaml: string): Promise<StackKey> {
  const key = { team: "acme", stackId: `c${++n}` };
  const now = new Date().toISOString();
  await store.createStack({
    ...key,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "compiled.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: { github_username: "alice-gh" },
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  return key;
}

/** Every attribute of every item in the table as text, binary ones gunzipped when they can be. */
async function tableText(): Promise<string> {
  const out: string[] = [];
  const text = (v: AttributeValue): string => {
    if (v.B) {
      try {
        return gunzipSync(v.B).toString("utf8");
      } catch {
        return Buffer.from(v.B).toString("utf8");
      }
    }
    if (v.M) return Object.values(v.M).map(text).join(" ");
    if (v.L) return v.L.map(text).join(" ");
    return JSON.stringify(v);
  };
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await db.client.send(new ScanCommand({ TableName: TABLE, ExclusiveStartKey: start }));
    for (const item of page.Items ?? []) out.push(Object.values(item).map(text).join(" "));
    start = page.LastEvaluatedKey;
  } while (start);
  return out.join("\n");
}

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  store = createDynamoStore({ client: db.client, tableName: TABLE });
  const provider = () => recording;
  deps = {
    store,
    provider,
    catalog: PROVIDERS,
    tokens: {
      async sendSuccess(token, output) {
        registry.sendSuccess(token, output);
      },
      async sendFailure(token, error, cause) {
        registry.sendFailure(token, error, cause);
      },
    },
    readiness: {
      async watch({ ref, token, mask }) {
        await steps.settleReadiness(deps, token, await recording.waitUntilReady(ref), mask);
      },
    },
    executions: { isRunning: async (execution) => running.has(execution) },
    hooks: createHookRunner({
      store,
      provider,
      resolve: async () => ["93.184.216.34"],
      fetch: async (_url, init) => {
        posted.push(String(init?.body));
        return new Response("{}", { status: 200 });
      },
    }),
    events: { publish: async () => undefined },
    secrets,
    now: () => new Date(),
  };
});

afterAll(async () => {
  await db?.close();
});

const byName = <T extends { name: string }>(items: readonly T[]) => new Map(items.map((i) => [i.name, i]));

describe("tasks read the run's records, not the template", () => {
  it("runs a stack to the end with the stored template unreadable from the end of Prepare on", async () => {
    const key = await newStack(`vars: { port: 5432 }
pre_hooks:
  - webhook: { url: "https://ci.example.com/hook", secret: hook_key, body: { who: $koding.userdata.github_username } }
servers:
  - name: store
    provider: sim
    type: t3.micro
    options: { boot_ms: 5 }
    user_data: "initdb --port $vars.port --password $koding.userdata.db_password"
  - name: api
    provider: sim
    type: t3.micro
    user_data: "connect \${servers.store.IP}:$vars.port as $koding.userdata.github_username"
post_hooks:
  - run_script: { target_server: api, script: "echo $servers.store.IP $koding.artifact.stackId $koding.userdata.db_password" }
`);
    const outcome = await execute(machine, { ...key }, `exec-${++n}`);
    expect(outcome.status).toBe("SUCCEEDED");
    expect(
      loadTemplate((await store.getStack(key))?.templateYaml ?? "", "t.yaml", PROVIDERS).template,
    ).toBeUndefined();

    const view = await stackStatus(store, key);
    // In the template's order (not the store's by name), from each record's spec.
    expect(view?.servers.map((s) => [s.name, s.status])).toEqual([
      ["store", "SUCCEEDED"],
      ["api", "SUCCEEDED"],
    ]);
    const ip = byName(view?.servers ?? []).get("store")?.artifacts.IP;
    expect(ip).toMatch(/^10\./);
    const requests = byName(
      created.filter((c) => c.stackId === key.stackId).map((c) => ({ ...c, name: c.server })),
    );
    expect(requests.get("api")?.userData).toBe(`connect ${ip}:5432 as alice-gh`);
    expect(requests.get("store")?.userData).toBe(`initdb --port 5432 --password ${DB_PASSWORD}`);
    expect(requests.get("store")?.secrets).toEqual([DB_PASSWORD]);
    expect(posted.at(-1)).toBe(JSON.stringify({ who: "alice-gh" }));
    expect(view?.hooks.map((h) => `${h.phase}:${h.index} ${h.status}`)).toEqual([
      "pre:0 SUCCEEDED",
      "post:0 SUCCEEDED",
    ]);
    // The script's output echoes the member's secret: it is masked before it is stored.
    expect(view?.hooks[1]?.output).toContain(`echo ${ip} ${key.stackId} ***`);

    // Secrets are resolved at the last moment and never stored: not in any spec, record or event.
    const stored = await tableText();
    expect(stored).toContain("db_password");
    expect(stored).not.toContain(DB_PASSWORD);
    expect(stored).not.toContain(HOOK_KEY);
  });

  it("rolls back by the on_failure Prepare recorded, giving destroy each server's stored options", async () => {
    const key = await newStack(`settings: { on_failure: rollback }
servers:
  - { name: ok, provider: sim, type: t3.micro, options: { boot_ms: 1 } }
  - { name: bad, provider: sim, type: t3.micro, options: { fail: true } }
`);
    const outcome = await execute(machine, { ...key }, `exec-${++n}`);
    expect(outcome.status).toBe("FAILED");
    const view = byName((await stackStatus(store, key))?.servers ?? []);
    expect(view.get("ok")?.status).toBe("DESTROYED");
    expect(view.get("bad")?.status).toBe("DESTROYED");
    const refs = byName(
      destroyed.filter((r) => r.stackId === key.stackId).map((r) => ({ ...r, name: r.server })),
    );
    expect(refs.get("ok")?.options).toEqual({ boot_ms: 1 });
    expect(refs.get("bad")?.options).toEqual({ fail: true });
  });

  it("redrives a failed run from its stored records: the template is not read again", async () => {
    const key = await newStack(`servers:
  - { name: good, provider: sim, type: t3.micro }
  - { name: flaky, provider: sim, type: t3.micro, depends_on: [good], options: { fail: once } }
post_hooks:
  - run_script: { target_server: flaky, script: "echo $servers.good.IP" }
`);
    const executionId = `exec-${++n}`;
    const first = await execute(machine, { ...key }, executionId);
    expect(first).toMatchObject({ status: "FAILED", error: "StackFailedError" });
    const before = byName((await stackStatus(store, key))?.servers ?? []);
    expect(before.get("flaky")?.status).toBe("FAILED");
    expect((await store.getStack(key))?.templateYaml).toBe(CORRUPT);

    const failed = first.status === "FAILED" ? first.failedState : undefined;
    if (!failed) throw new Error("the failed execution names no state to redrive from");
    const redriven = await execute(
      startingAt(machine, failed.name),
      failed.input as Record<string, unknown>,
      executionId,
    );
    expect(redriven.status).toBe("SUCCEEDED");
    const view = await stackStatus(store, key);
    expect(view).toMatchObject({ status: "SUCCEEDED", run: 2, lock: null });
    const after = byName(view?.servers ?? []);
    expect(after.get("good")?.artifacts.Id).toBe(before.get("good")?.artifacts.Id);
    expect(after.get("good")?.readyAt).toBe(before.get("good")?.readyAt);
    expect(after.get("flaky")?.status).toBe("SUCCEEDED");
    expect(view?.hooks[0]).toMatchObject({
      status: "SUCCEEDED",
      output: expect.stringContaining(after.get("good")?.artifacts.IP ?? "?"),
    });
  });

  it("refuses to redrive a run whose records hold no specs, before taking the lock", async () => {
    const key = await newStack("servers:\n  - { name: a, provider: sim, type: t3.micro }\n");
    await store.putServer({
      ...key,
      name: "a",
      provider: "sim",
      type: "t3.micro",
      status: "FAILED",
      deps: [],
      dependents: [],
      pending: [],
      run: 1,
      attempt: 1,
    });
    await store.updateStack(key, { redrive: { execution: "old", armed: true } });
    await expect(
      steps.resume(deps, { ...key, execution: "old", error: { Error: "X", Cause: "y" } }),
    ).rejects.toThrow(/cannot be redriven: its records hold no compiled specs \(a\); rerun it instead/);
    expect((await store.getStack(key))?.lock).toBeUndefined();
  });
});
