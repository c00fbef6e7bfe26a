import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChangeSet } from "../../../src/core/change-set.ts";
import { ensureLocalStore, type LocalStore } from "../../../src/local/dynamo.ts";
import { type StackStatusView, stackStatus as statusFromStore } from "../../../src/pipeline/status.ts";
import type { StackKey, Store } from "../../../src/ports/store.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import { settled, startTestApi, type TestApi } from "../api/api-server.ts";
import {
  finalJson,
  leasesOf,
  liveSandboxes,
  type RunningCli,
  runCli,
  sandboxDirs,
  serverOf,
  shown,
  simAttempts,
  startCli,
  tearDown,
  tempStateDir,
  until,
} from "./stack-cli.ts";

// Updating a stack to a new template version: the change set is exactly what the rule says, kept
// servers are untouched (same Id), replaced ones are new, the removed one is gone at its provider,
// and the stack records the version. Through the API (publish, create, publish, changes, update),
// through `up` of a changed file, and with `up` SIGKILLed at five moments and resumed by `rerun`.

/** v1: a database, an app using its IP, a worker waiting for the app, a cache. */
const V1 = `
servers:
  - name: database
    provider: sim
    type: t3.micro
    options: { boot_ms: 200 }
  - name: app
    provider: local
    type: sandbox
    user_data: |
      echo "db=$servers.database.IP" > /etc/config
  - name: worker
    provider: local
    type: sandbox
    depends_on: [app]
    user_data: |
      echo work > /etc/worker
  - name: cache
    provider: local
    type: sandbox
    user_data: echo cache > /etc/cache
`;

/** v2: the database's type changes, the cache is removed, a search server is added. */
const V2 = `${V1.replace("type: t3.micro", "type: t3.large").split("  - name: cache")[0]}  - name: search
    provider: sim
    type: t3.micro
    options: { boot_ms: 300 }
`;

/** The change set the rule gives from v1 to v2, in the template's order, the removed last. */
const EXPECTED = [
  { name: "database", action: "replace", reasons: ["type changed from t3.micro to t3.large"] },
  { name: "app", action: "replace", reasons: ["uses database.IP, and database is replaced"] },
  { name: "worker", action: "keep", reasons: [] },
  { name: "search", action: "create", reasons: ["new in the template"] },
  { name: "cache", action: "delete", reasons: ["removed from the template"] },
];

const RUN_MS = 150_000;
const TEST_MS = 300_000;

type Ids = Record<string, string | undefined>;

function idsOf(view: StackStatusView): Ids {
  return Object.fromEntries(view.servers.map((s) => [s.name, s.artifacts.Id]));
}

/** The stack is on v2, and what is on the machine is exactly v2's servers, each made once more at most. */
async function expectOnV2(
  stateDir: string,
  view: StackStatusView,
  before: Ids,
  version: number,
): Promise<void> {
  expect(view.status, view.error ?? "").toBe("SUCCEEDED");
  expect(view.lock).toBeNull();
  expect(view.template).toMatchObject({ version });
  expect(view.servers.map((s) => [s.name, s.status])).toEqual([
    ["database", "SUCCEEDED"],
    ["app", "SUCCEEDED"],
    ["worker", "SUCCEEDED"],
    ["search", "SUCCEEDED"],
  ]);
  const after = idsOf(view);
  // Kept: the same server. Replaced: a new one.
  expect(after.worker).toBe(before.worker);
  expect(after.database).not.toBe(before.database);
  expect(after.app).not.toBe(before.app);
  // The database was made twice (v1, v2) and search once: nothing was created twice by a retry.
  expect(Object.fromEntries(await simAttempts(stateDir, view.stackId))).toEqual({ database: 2, search: 1 });
  // The cache is gone at its provider: no sandbox, no process, no address; every other sandbox once.
  expect(await sandboxDirs(stateDir, view.stackId)).toEqual(["app", "worker"]);
  const live = await liveSandboxes(stateDir, view.stackId);
  expect([...live.keys()].sort()).toEqual(["app", "worker"]);
  for (const name of ["app", "worker"]) expect(live.get(name)?.bwraps, name).toHaveLength(1);
  expect([...(await leasesOf(stateDir, view.stackId)).values()].sort()).toEqual(["app", "worker"]);
  // The new app was made with the new database's address.
  const config = await readFile(
    join(stateDir, "sandboxes", view.stackId, "app", "root", "etc", "config"),
    "utf8",
  );
  expect(config.trim()).toBe(`db=${serverOf(view, "database").artifacts.IP}`);
}

describe("update through the API", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api?.close();
  }, TEST_MS);

  it(
    "publishes v1, creates a stack, publishes v2: the change set is the rule's, and the update applies it",
    async () => {
      const admin = await api.token("upd", "root", true);
      const member = await api.token("upd", "alice");
      const put = (yaml: string) =>
        api.call("PUT", "/teams/upd/templates/env", {
          token: admin,
          body: yaml,
          headers: { "content-type": "application/yaml" },
        });
      expect((await put(V1)).status).toBe(201);
      const created = await api.call("POST", "/teams/upd/stacks", {
        token: admin,
        body: { template: "env", member: "alice" },
      });
      expect(created.status, created.text).toBe(202);
      const stackId = (created.body as { stackId: string }).stackId;
      const v1 = (await settled(api, "upd", stackId, admin, 60_000)).body as StackStatusView;
      expect(v1.status, v1.error ?? "").toBe("SUCCEEDED");
      expect(v1).toMatchObject({ name: "env", template: { name: "env", version: 1 } });

      // A second stack of the same name for the same member is refused, naming the first.
      const twice = await api.call("POST", "/teams/upd/stacks", {
        token: admin,
        body: { template: "env", member: "alice" },
      });
      expect(twice.status).toBe(409);
      expect(twice.text).toContain(stackId);

      expect((await put(V2)).status).toBe(201);
      const shownChanges = await api.call("GET", `/teams/upd/stacks/${stackId}/changes?version=2`, {
        token: member,
      });
      expect(shownChanges.status, shownChanges.text).toBe(200);
      const changes = shownChanges.body as ChangeSet;
      expect(changes.from).toMatchObject({ name: "env", version: 1 });
      expect(changes.to).toMatchObject({ name: "env", version: 2 });
      expect(changes.servers).toEqual(EXPECTED);
      expect(
        (await api.call("GET", `/teams/upd/stacks/${stackId}/changes?version=x`, { token: member })).status,
      ).toBe(400);
      expect(
        (await api.call("GET", `/teams/upd/stacks/${stackId}/changes?version=9`, { token: member })).status,
      ).toBe(404);

      // The update is checked against today's offer and policy: a member may not run local servers
      // on this machine (the admin made the stack), so the member's update is refused, changing nothing.
      const byMember = await api.call("POST", `/teams/upd/stacks/${stackId}/update`, {
        token: member,
        body: { version: 2 },
      });
      expect(byMember.status).toBe(403);
      expect(byMember.text).toContain("cannot update stack");
      expect((await api.call("GET", `/teams/upd/stacks/${stackId}`, { token: member })).body).toMatchObject({
        template: { version: 1 },
        run: 1,
      });
      const update = await api.call("POST", `/teams/upd/stacks/${stackId}/update`, {
        token: admin,
        body: { version: 2 },
      });
      expect(update.status, update.text).toBe(202);
      expect((update.body as { changes: ChangeSet }).changes.servers).toEqual(EXPECTED);
      const v2 = (await settled(api, "upd", stackId, admin, 60_000)).body as StackStatusView;
      await expectOnV2(api.engine.stateDir, v2, idsOf(v1), 2);
      expect(v2).toMatchObject({ updateAvailable: false });

      // Updating again to the same version changes nothing that exists.
      const again = await api.call("GET", `/teams/upd/stacks/${stackId}/changes`, { token: member });
      expect((again.body as ChangeSet).servers.map((c) => c.action)).toEqual([
        "keep",
        "keep",
        "keep",
        "keep",
      ]);
    },
    TEST_MS,
  );
});

describe("update through `up` of a changed file", () => {
  let stateDir: string;
  let local: LocalStore | undefined;
  let store: Store;

  beforeAll(async () => {
    stateDir = await tempStateDir("update");
    local = await ensureLocalStore(stateDir);
    store = createDynamoStore({ client: local.client, tableName: local.tableName });
  });
  afterAll(async () => {
    local?.close();
    await tearDown(stateDir);
  }, TEST_MS);

  async function view(key: StackKey): Promise<StackStatusView> {
    const v = await statusFromStore(store, key);
    if (!v) throw new Error(`no stack ${key.stackId}`);
    return v;
  }

  /** `up` of v1 for a member, from a file of the member's name: the stack and its servers' ids. */
  async function upV1(member: string): Promise<{ file: string; key: StackKey; ids: Ids }> {
    const file = join(stateDir, `${member}.yaml`);
    await writeFile(file, V1);
    const r = await runCli(["up", file, "--member", member, "--json", "--state-dir", stateDir], RUN_MS);
    expect(r.code, shown(r)).toBe(0);
    const v = finalJson(r.stdout) as StackStatusView;
    expect(v).toMatchObject({ name: member, template: { name: member, version: 1 } });
    return { file, key: { team: "local", stackId: v.stackId }, ids: idsOf(v) };
  }

  it(
    "shows the change set, refuses without a terminal, then with --yes converges the same stack on v2",
    async () => {
      const { file, key, ids } = await upV1("ada");
      await writeFile(file, V2);
      const refused = await runCli(["up", file, "--member", "ada", "--state-dir", stateDir], RUN_MS);
      expect(refused.code, shown(refused)).toBe(1);
      expect(refused.stderr).toContain("~ database  replace  type changed from t3.micro to t3.large");
      expect(refused.stderr).toContain("- cache     delete   removed from the template");
      expect(refused.stderr).toContain("run it again with --yes");
      expect((await view(key)).template).toMatchObject({ version: 1 });

      const plan = await runCli([
        "plan",
        file,
        "--stack",
        key.stackId,
        "--format",
        "json",
        "--state-dir",
        stateDir,
      ]);
      expect(plan.code, shown(plan)).toBe(0);
      expect((JSON.parse(plan.stdout) as ChangeSet).servers).toEqual(EXPECTED);

      const r = await runCli(
        ["up", file, "--member", "ada", "--yes", "--json", "--state-dir", stateDir],
        RUN_MS,
      );
      expect(r.code, shown(r)).toBe(0);
      const v = finalJson(r.stdout) as StackStatusView;
      expect(v.stackId).toBe(key.stackId);
      await expectOnV2(stateDir, v, ids, 2);
      // One stack, still: `up` converged it.
      expect((await store.listStacks("local")).filter((s) => s.member === "ada")).toHaveLength(1);
      // `up` of the same file again changes nothing.
      const same = await runCli(["up", file, "--member", "ada", "--state-dir", stateDir], RUN_MS);
      expect(same.code, shown(same)).toBe(0);
      expect(same.stderr).toContain("is up to date");
    },
    TEST_MS,
  );

  /** Moments to kill `up --yes` of v2 at: the stack's events that say it got there. */
  const MOMENTS: readonly [string, (e: { type: string; server?: string; message: string }) => boolean][] = [
    ["the update is recorded, before Prepare", (e) => e.type === "UpdateRequested"],
    [
      "Prepare has marked what to replace and remove",
      (e) => e.type === "RunStarted" && e.message.startsWith("run 2"),
    ],
    ["the old database is being destroyed", (e) => e.type === "ServerReplacing" && e.server === "database"],
    [
      "the new database is ready",
      (e) => e.type === "ServerReady" && e.server === "database" && e.message.length > 0,
    ],
    ["the new app is being created", (e) => e.type === "ServerCreating" && e.server === "app"],
  ];

  it.concurrent.each(MOMENTS.map(([what, at], i) => ({ what, at, member: `kill${i}` })))(
    "converges on v2 after `up` is SIGKILLed when $what, and `rerun`",
    async ({ at, member }) => {
      const { file, key, ids } = await upV1(member);
      const seenBefore = (await store.listEvents(key)).length;
      await writeFile(file, V2);
      const up: RunningCli = startCli(
        ["up", file, "--member", member, "--yes", "--json", "--state-dir", stateDir],
        RUN_MS,
      );
      await until(
        "the kill point",
        async () => ((await store.listEvents(key)).slice(seenBefore).some(at) ? true : undefined),
        RUN_MS,
      );
      up.child.kill("SIGKILL");
      const killed = await up.done;
      if (killed.signal !== "SIGKILL") expect(killed.code, shown(killed)).toBe(0);
      const r = await runCli(["rerun", key.stackId, "--json", "--state-dir", stateDir], RUN_MS);
      expect(r.code, shown(r)).toBe(0);
      await expectOnV2(stateDir, finalJson(r.stdout) as StackStatusView, ids, 2);
    },
    TEST_MS,
  );
});
