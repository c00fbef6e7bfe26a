import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pascalCase, TASK_ACCESS } from "../../infra/constructs/task-functions.ts";
import { PROJECT_ROOT } from "../../infra/teamstack-stack.ts";
import { createHookRunner } from "../../src/hooks/runner.ts";
import {
  loadMachine,
  runMachine,
  startingAt,
  type TaskFunction,
  TokenRegistry,
} from "../../src/local/asl-runner.ts";
import type { PipelineDeps } from "../../src/pipeline/context.ts";
import * as destroySteps from "../../src/pipeline/destroy.ts";
import * as powerSteps from "../../src/pipeline/power.ts";
import * as steps from "../../src/pipeline/steps.ts";
import type { Readiness } from "../../src/ports/orchestration.ts";
import type { StackKey } from "../../src/ports/store.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";
import { createSimProvider } from "../../src/providers/sim/sim-provider.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { createTable } from "../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "../integration/store/dynalite.ts";

// TASK_ACCESS is read off the code by hand; this runs the real ASL files with every task on deps
// of its own (a DynamoDB client, task tokens, executions and events that record each AWS action),
// as each Lambda has in AWS, and checks that no task calls an action its role lacks.

const TABLE = "teamstack-access";
let db: TestDynalite;
const used = new Map<string, Set<string>>();
const registry = new TokenRegistry();
const running = new Set<string>();
const sim = createSimProvider({});
let n = 0;

function record(task: string, action: string): void {
  const set = used.get(task) ?? new Set<string>();
  set.add(action);
  used.set(task, set);
}

/** What one task function's Lambda would build at cold start, recording the AWS actions it takes. */
function depsFor(task: string): PipelineDeps {
  const client = {
    send(command: { constructor: { name: string } }) {
      record(task, `dynamodb:${command.constructor.name.replace(/Command$/, "")}`);
      return db.client.send(command as never);
    },
  } as unknown as DynamoDBClient;
  const store = createDynamoStore({ client, tableName: TABLE });
  const provider = (name: string) => {
    if (name !== "sim") throw new Error(`only sim servers here, not ${name}`);
    return sim;
  };
  let deps: PipelineDeps;
  const readiness: Readiness = {
    async watch({ provider: name, ref, token }) {
      await steps.settleReadiness(deps, token, await provider(name).waitUntilReady(ref));
    },
  };
  deps = {
    store,
    provider,
    catalog: PROVIDERS,
    tokens: {
      async sendSuccess(token, output) {
        record(task, "states:SendTaskSuccess");
        registry.sendSuccess(token, output);
      },
      async sendFailure(token, error, cause) {
        record(task, "states:SendTaskFailure");
        registry.sendFailure(token, error, cause);
      },
    },
    readiness,
    executions: {
      async isRunning(execution) {
        record(task, "states:DescribeExecution");
        return running.has(execution);
      },
    },
    // The pre-hook's webhook goes nowhere: this test only cares which AWS actions the tasks take.
    hooks: createHookRunner({ store, provider, fetch: async () => new Response("{}", { status: 200 }) }),
    events: {
      async publish() {
        record(task, "events:PutEvents");
      },
    },
    schedules: {
      async set() {
        record(task, "scheduler:CreateSchedule");
      },
      async clear() {
        record(task, "scheduler:DeleteSchedule");
      },
    },
    secrets: {
      async get() {
        record(task, "secretsmanager:GetSecretValue");
        return "a-secret-value";
      },
      async exists() {
        return false;
      },
      async set() {
        throw new Error("tasks never write secrets");
      },
      async list() {
        throw new Error("tasks never list secrets");
      },
      async remove() {
        throw new Error("tasks never remove secrets");
      },
    },
    now: () => new Date(),
  };
  return deps;
}

const camelCase = (kebab: string) => kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Each task bound as its Lambda is: lambdas/<folder>/handler.ts calls the step of the same name. */
const functions: Record<string, TaskFunction> = Object.fromEntries(
  Object.keys(TASK_ACCESS).map((folder) => {
    // The destroy machine's tasks live in destroy.ts (its destroyServer is the one the Lambda runs).
    const step = (
      { ...steps, ...destroySteps, ...powerSteps } as unknown as Record<
        string,
        (d: PipelineDeps, p: unknown) => Promise<unknown>
      >
    )[camelCase(folder)];
    if (!step) throw new Error(`src/pipeline has no ${camelCase(folder)} for lambdas/${folder}`);
    const deps = depsFor(pascalCase(folder));
    return [pascalCase(folder), (payload: unknown) => step(deps, payload)];
  }),
);

const machines = {
  provision: loadMachine(join(PROJECT_ROOT, "statemachines", "provision.asl.json")),
  destroy: loadMachine(join(PROJECT_ROOT, "statemachines", "destroy.asl.json")),
  power: loadMachine(join(PROJECT_ROOT, "statemachines", "power.asl.json")),
};

async function execute(
  machine: keyof typeof machines,
  key: StackKey,
  executionId = `exec-${++n}`,
  extra: Record<string, unknown> = {},
) {
  running.add(executionId);
  try {
    const { outcome } = await runMachine(
      machines[machine],
      { ...key, ...extra },
      { executionId, functions, tokens: registry },
    );
    return { outcome, executionId };
  } finally {
    running.delete(executionId);
  }
}

async function newStack(yaml: string): Promise<StackKey> {
  const key = { team: "access", stackId: `s${++n}` };
  const now = new Date().toISOString();
  const store = createDynamoStore({ client: db.client, tableName: TABLE });
  await store.createStack({
    ...key,
    member: "alice",
    status: "RUNNING",
    run: 0,
    templateYaml: yaml,
    templateFile: "access.yaml",
    templateHash: createHash("sha256").update(yaml).digest("hex"),
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  return key;
}

const server = (name: string, extra = "") =>
  `  - name: ${name}\n    provider: sim\n    type: t3.micro\n${extra}`;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
});

afterAll(async () => {
  await db?.close();
});

describe("TASK_ACCESS against the task code", () => {
  it("binds each task folder's handler to the step of the same name", () => {
    for (const folder of Object.keys(TASK_ACCESS)) {
      const source = readFileSync(join(PROJECT_ROOT, "lambdas", folder, "handler.ts"), "utf8");
      expect(source, folder).toMatch(new RegExp(`\\b${camelCase(folder)}\\(deps, event\\)`));
    }
  });

  it("covers every AWS action each task takes through provision, an update, failure, a held lock, destroy, stop, start and expiry", async () => {
    const ok = await newStack(
      [
        "pre_hooks:",
        "  - webhook: { url: 'https://example.com/hook' }",
        "servers:",
        server("db", "    options: { boot_ms: 5 }\n"),
        server("api", '    user_data: "echo $servers.db.IP"\n'),
        server("web", "    depends_on: [api, db]\n"),
        "post_hooks:",
        "  - run_script: { target_server: web, script: 'echo ok' }",
      ].join("\n"),
    );
    expect((await execute("provision", ok)).outcome.status).toBe("SUCCEEDED");
    expect((await execute("destroy", ok)).outcome.status).toBe("SUCCEEDED");

    // An update: one server replaced, one removed (RemoveServers, CheckRemoved), one added.
    const before = [
      "servers:",
      server("db"),
      server("app", '    user_data: "echo $servers.db.IP"\n'),
      server("old"),
    ];
    const updated = await newStack(before.join("\n"));
    expect((await execute("provision", updated)).outcome.status).toBe("SUCCEEDED");
    const after = [
      "servers:",
      server("db", "    options: { boot_ms: 7 }\n"),
      server("app", '    user_data: "echo $servers.db.IP"\n'),
      server("new"),
    ].join("\n");
    await createDynamoStore({ client: db.client, tableName: TABLE }).updateStack(updated, {
      templateYaml: after,
      templateHash: createHash("sha256").update(after).digest("hex"),
    });
    expect((await execute("provision", updated)).outcome.status).toBe("SUCCEEDED");

    const failing = await newStack(
      [
        "settings: { on_failure: rollback, ttl: 1h }",
        "servers:",
        server("db", "    options: { fail: true }\n    user_data: 'echo $koding.userdata.api_key'\n"),
        server("api", "    depends_on: [db]\n"),
        server("cache"),
      ].join("\n"),
    );
    const failed = await execute("provision", failing);
    expect(failed.outcome.status).toBe("FAILED");
    // A console redrive restarts at the state the execution failed in, twice: arm, then resume.
    if (failed.outcome.status === "FAILED" && failed.outcome.failedState) {
      for (let i = 0; i < 2; i++) {
        const redriven = startingAt(machines.provision, failed.outcome.failedState.name);
        running.add(failed.executionId);
        await runMachine(redriven, failed.outcome.failedState.input as Record<string, unknown>, {
          executionId: failed.executionId,
          functions,
          tokens: registry,
        }).finally(() => running.delete(failed.executionId));
      }
    }

    // A server that cannot be destroyed keeps what it depends on, and the destroy fails naming both.
    const stuck = await newStack(
      [
        "servers:",
        server("root"),
        server("base", "    depends_on: [root]\n    options: { fail_destroy: true }\n"),
      ].join("\n"),
    );
    expect((await execute("provision", stuck)).outcome.status).toBe("SUCCEEDED");
    expect((await execute("destroy", stuck)).outcome.status).toBe("FAILED");

    // A lock held by a running execution is refused; one held by a finished execution is taken over.
    const locked = await newStack(["servers:", server("solo")].join("\n"));
    const store = createDynamoStore({ client: db.client, tableName: TABLE });
    await store.acquireLock(locked, { run: 1, execution: "holder", since: new Date().toISOString() });
    running.add("holder");
    expect((await execute("provision", locked)).outcome.status).toBe("FAILED");
    // An expiry that finds the stack busy moves its schedule on.
    const due = new Date(Date.now() - 1000).toISOString();
    await store.updateStack(locked, { expiresAt: due, stopsAt: due });
    const busyDestroy = await execute("destroy", locked, undefined, {
      expired: { action: "destroy", at: due },
    });
    expect(busyDestroy.outcome.status === "FAILED" && busyDestroy.outcome.error).toBe("StackLockedError");
    const busyStop = await execute("power", locked, undefined, {
      action: "stop",
      expired: { action: "stop", at: due },
    });
    expect(busyStop.outcome.status === "FAILED" && busyStop.outcome.error).toBe("StackLockedError");
    await store.updateStack(locked, { expiresAt: undefined, stopsAt: undefined });
    running.delete("holder");
    expect((await execute("provision", locked)).outcome.status).toBe("SUCCEEDED");

    // Stop and start (with on_start), a stop that fails, and the expiries: a ttl's destroy and an
    // auto_stop, each fired once due.
    const power = await newStack(
      [
        "settings: { ttl: 1h, auto_stop: 1h }",
        "servers:",
        server("db", "    on_start: 'echo $koding.userdata.api_key'\n"),
        server("app", "    on_start: 'echo $servers.db.IP'\n    options: { fail_stop: once }\n"),
      ].join("\n"),
    );
    expect((await execute("provision", power)).outcome.status).toBe("SUCCEEDED");
    expect((await execute("power", power, undefined, { action: "stop" })).outcome.status).toBe("FAILED");
    expect((await execute("power", power, undefined, { action: "stop" })).outcome.status).toBe("SUCCEEDED");
    expect((await execute("power", power, undefined, { action: "start" })).outcome.status).toBe("SUCCEEDED");
    const past = new Date(Date.now() - 1000).toISOString();
    const expiring = createDynamoStore({ client: db.client, tableName: TABLE });
    await expiring.updateStack(power, { stopsAt: past, expiresAt: past });
    const stopAt = { action: "stop", expired: { action: "stop", at: past } };
    expect((await execute("power", power, undefined, stopAt)).outcome.status).toBe("SUCCEEDED");
    const destroyAt = { expired: { action: "destroy", at: past } };
    expect((await execute("destroy", power, undefined, destroyAt)).outcome.status).toBe("SUCCEEDED");

    const missing: string[] = [];
    const unused: string[] = [];
    for (const [folder, access] of Object.entries(TASK_ACCESS)) {
      const name = pascalCase(folder);
      const actions = used.get(name);
      expect(actions, `${name} ran`).toBeDefined();
      const granted = new Set([
        ...access.table.map((a) => `dynamodb:${a}`),
        ...(access.sendsTaskTokens ? ["states:SendTaskSuccess", "states:SendTaskFailure"] : []),
        ...(access.describesExecutions ? ["states:DescribeExecution"] : []),
        ...(access.publishesEvents ? ["events:PutEvents"] : []),
        ...(access.readsSecrets ? ["secretsmanager:GetSecretValue"] : []),
        ...(access.setsSchedules ? ["scheduler:CreateSchedule", "scheduler:DeleteSchedule"] : []),
      ]);
      for (const action of actions ?? []) if (!granted.has(action)) missing.push(`${folder}: ${action}`);
      // Table and token grants come in pairs and cover read-backs that a run may not need; secrets
      // and events are all-or-nothing, so a grant nobody used is one too many.
      for (const action of granted) {
        if (/^(secretsmanager|events):/.test(action) && !actions?.has(action))
          unused.push(`${folder}: ${action}`);
        if (
          action === "scheduler:CreateSchedule" &&
          !actions?.has(action) &&
          !actions?.has("scheduler:DeleteSchedule")
        )
          unused.push(`${folder}: ${action}`);
      }
    }
    expect(missing, "actions a task takes that TASK_ACCESS does not grant").toEqual([]);
    expect(unused, "secrets or events TASK_ACCESS grants that no task used").toEqual([]);
  }, 120_000);
});
