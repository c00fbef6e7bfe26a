import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { CompiledHook, CompiledServer } from "../../../src/core/compiled.ts";
import type { HookRecord, RunContext, ServerRecord, StackRecord } from "../../../src/ports/store.ts";
import {
  hookToItem,
  itemToHook,
  itemToServer,
  itemToStack,
  RESERVED_ATTRS,
  SPEC_ATTR,
  serverToItem,
  stackToItem,
} from "../../../src/store/records.ts";

// The compiled specs and run context Prepare writes onto a run's records, as table items.

const SPEC: CompiledServer = {
  provider: "aws",
  type: "t3.micro",
  // Values a DynamoDB map would not keep as they are: a null, an empty map, a nested list.
  options: { region: "eu-west-1", firewall: [{ port: 22, from: "10.0.0.0/8" }], extra: null, empty: {} },
  userData: ["echo ", { server: "db", artifact: "IP", raw: "$servers.db.IP" }, { userdata: "k", raw: "$k" }],
  dependsOn: ["db"],
  index: 1,
  order: 1,
  hash: "ab".repeat(32),
};
const CONTEXT: RunContext = { member: "ada", secrets: { userdata: ["k"], team: [] } };
const SERVER: ServerRecord = {
  team: "acme",
  stackId: "st-1",
  name: "web",
  provider: "aws",
  type: "t3.micro",
  status: "PENDING",
  deps: ["db"],
  dependents: [],
  pending: ["db"],
  run: 2,
  attempt: 0,
  spec: SPEC,
  context: CONTEXT,
};
const HOOK_SPEC: CompiledHook = {
  type: "webhook",
  params: {
    value: { url: "$u", body: { a: [1, true] } },
    holes: [{ path: ["url"], text: [{ unresolved: "$u" }] }],
  },
  continueOnError: true,
  secrets: { userdata: [], team: ["webhook_secret"] },
};

describe("server and hook records with compiled specs", () => {
  it("round-trips a server's spec exactly and its run context", () => {
    const item = serverToItem(SERVER);
    expect(item[SPEC_ATTR]?.B).toBeInstanceOf(Uint8Array);
    expect(item.spec).toBeUndefined();
    expect(itemToServer(item)).toEqual(SERVER);
  });

  it("round-trips a hook's spec, and records without one", () => {
    const hook: HookRecord = {
      team: "acme",
      stackId: "st-1",
      phase: "post",
      index: 0,
      type: "webhook",
      status: "PENDING",
      run: 1,
      spec: HOOK_SPEC,
      context: CONTEXT,
    };
    expect(itemToHook(hookToItem(hook))).toEqual(hook);
    const { spec: _spec, context: _context, ...bare } = hook;
    expect(itemToHook(hookToItem(bare))).toEqual(bare);
  });

  it("round-trips the run settings on the stack", async () => {
    const stack: StackRecord = {
      team: "acme",
      stackId: "st-1",
      member: "ada",
      status: "RUNNING",
      run: 1,
      templateYaml: "servers: []\n",
      templateFile: "t.yaml",
      templateHash: "h",
      userdata: {},
      simulate: [],
      createdAt: "2030-01-01T00:00:00Z",
      startedAt: "2030-01-01T00:00:00Z",
      settings: { onFailure: "rollback", maxParallel: 5, serverTimeout: 60, waitTimeout: 420 },
    };
    expect(await itemToStack(await stackToItem(stack))).toEqual(stack);
  });

  it("refuses a stored spec that is not what it should be, naming what is wrong", () => {
    const item = serverToItem(SERVER);
    const bad = (spec: unknown) => ({ ...item, [SPEC_ATTR]: { B: gzipSync(JSON.stringify(spec)) } });
    expect(() => itemToServer({ ...item, [SPEC_ATTR]: { B: new Uint8Array([1, 2, 3]) } })).toThrow(
      "server item: attribute `specGz` is not gzip-compressed JSON",
    );
    expect(() => itemToServer(bad([1]))).toThrow("server item: the stored spec is not an object");
    expect(() => itemToServer(bad({ ...SPEC, hash: 3 }))).toThrow("the stored spec has no string `hash`");
    expect(() => itemToServer(bad({ ...SPEC, dependsOn: [1] }))).toThrow("no `dependsOn` list of strings");
    const hook = hookToItem({
      team: "acme",
      stackId: "st-1",
      phase: "pre",
      index: 0,
      type: "webhook",
      status: "PENDING",
      run: 1,
    });
    const { secrets: _secrets, ...noSecrets } = HOOK_SPEC;
    expect(() => itemToHook({ ...hook, [SPEC_ATTR]: { B: gzipSync(JSON.stringify(noSecrets)) } })).toThrow(
      "hook item: the stored spec has no `secrets` names",
    );
  });

  it("keeps a spec out of patches: it is written whole with its record", () => {
    expect(RESERVED_ATTRS.has("spec")).toBe(true);
    expect(RESERVED_ATTRS.has(SPEC_ATTR)).toBe(true);
  });
});
