import { describe, expect, it } from "vitest";
import { type ExistingServer, hookChanges, serverChanges } from "../../../src/core/change-set.ts";
import { type CompiledStack, compileStack } from "../../../src/core/compile.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

// The change set between a stack's recorded specs and a new template version, compiled as Prepare
// compiles it: the rule that decides keep, create, replace and delete.

function compile(yaml: string): CompiledStack {
  const { template, plan, problems } = loadTemplate(yaml, "t.yaml", PROVIDERS);
  if (!template || !plan) throw new Error(problems.map((p) => p.message).join("\n"));
  const context = { team: "acme", stackId: "st-1", member: "ada", userdata: {} };
  return compileStack(template, plan, context, { hookSecrets: () => [] });
}

/** The servers of a stack created from `yaml`, as their records hold them. */
function created(yaml: string): ExistingServer[] {
  return compile(yaml).servers.map(({ name, ...spec }) => ({ name, spec: { ...spec }, live: true }));
}

const V1 = `servers:
  - name: db
    provider: sim
    type: t3.micro
    user_data: echo db
  - name: app
    provider: sim
    type: t3.micro
    user_data: echo "db at $servers.db.IP"
  - name: worker
    provider: sim
    type: t3.micro
    depends_on: [app]
    user_data: echo work
  - name: reporter
    provider: sim
    type: t3.micro
    user_data: echo "app is $servers.app.Id"
  - name: cache
    provider: sim
    type: t3.micro
`;

const V2 = `servers:
  - name: db
    provider: sim
    type: t3.large
    user_data: echo db
  - name: app
    provider: sim
    type: t3.micro
    user_data: echo "db at $servers.db.IP"
  - name: worker
    provider: sim
    type: t3.micro
    depends_on: [app]
    user_data: echo work
  - name: reporter
    provider: sim
    type: t3.micro
    user_data: echo "app is $servers.app.Id"
  - name: search
    provider: sim
    type: t3.micro
    options: { boot_ms: 10 }
`;

const byName = (changes: ReturnType<typeof serverChanges>) =>
  Object.fromEntries(changes.map((c) => [c.name, { action: c.action, reasons: c.reasons }]));

describe("the change set", () => {
  it("replaces a changed server and, transitively, every server using its artifacts; keeps one that only waits for it", () => {
    const changes = byName(serverChanges(created(V1), compile(V2).servers));
    expect(changes).toEqual({
      db: { action: "replace", reasons: ["type changed from t3.micro to t3.large"] },
      app: { action: "replace", reasons: ["uses db.IP, and db is replaced"] },
      worker: { action: "keep", reasons: [] },
      reporter: { action: "replace", reasons: ["uses app.Id, and app is replaced"] },
      search: { action: "create", reasons: ["new in the template"] },
      cache: { action: "delete", reasons: ["removed from the template"] },
    });
  });

  it("keeps every server of an unchanged template, whatever its key order or reference spelling", () => {
    // The braced spelling of the same reference, written so that it is not a template placeholder.
    const respelled = V1.replace("$servers.db.IP", `$${"{"}servers.db.IP}`).replace(
      "    provider: sim\n    type: t3.micro\n    user_data: echo db",
      "    type: t3.micro\n    provider: sim\n    user_data: echo db",
    );
    expect(respelled).not.toBe(V1);
    const changes = serverChanges(created(V1), compile(respelled).servers);
    expect(changes.map((c) => c.action)).toEqual(["keep", "keep", "keep", "keep", "keep"]);
  });

  it("names the options and the user_data that changed", () => {
    const next = V1.replace(
      "    user_data: echo work",
      "    user_data: echo more work\n    options: { boot_ms: 5 }",
    );
    const worker = serverChanges(created(V1), compile(next).servers).find((c) => c.name === "worker");
    expect(worker).toEqual({
      name: "worker",
      action: "replace",
      reasons: ["options changed: boot_ms", "user_data changed"],
    });
  });

  it("creates a server again once it is destroyed, replaces one whose record has no spec, and deletes nothing already gone", () => {
    const existing = created(V1).map((s) =>
      s.name === "worker" ? { ...s, live: false } : s.name === "cache" ? { name: s.name, live: true } : s,
    );
    const gone = existing.map((s) => (s.name === "cache" ? { ...s, live: false } : s));
    expect(byName(serverChanges(existing, compile(V1).servers))).toMatchObject({
      worker: { action: "create", reasons: ["does not exist (destroyed or never created)"] },
      cache: { action: "replace", reasons: ["no spec recorded to compare with"] },
      db: { action: "keep" },
    });
    const withoutCache = V1.slice(0, V1.indexOf("  - name: cache"));
    expect(serverChanges(gone, compile(withoutCache).servers).some((c) => c.action === "delete")).toBe(false);
  });
});

describe("the hooks of a change set", () => {
  const HOOKS = `post_hooks:
  - webhook: { url: "https://hooks.example.com/a", body: { db: $servers.db.IP } }
  - webhook: { url: "https://hooks.example.com/b" }
servers:
  - { name: db, provider: sim, type: t3.micro }
`;
  const hooksOf = (yaml: string) => compile(yaml).postHooks;

  it("runs a hook that has not succeeded, or whose spec at its place changed; skips one that succeeded as it is", () => {
    const before = hooksOf(HOOKS);
    const existing = before.map(({ phase, index, ...spec }) => ({
      phase,
      index,
      succeeded: index === 0,
      spec,
    }));
    expect(hookChanges(existing, before).map((h) => [h.index, h.action])).toEqual([
      [0, "skip"],
      [1, "run"],
    ]);
    const changed = hooksOf(HOOKS.replace("hooks.example.com/a", "hooks.example.com/c"));
    expect(hookChanges(existing, changed).map((h) => [h.index, h.action])).toEqual([
      [0, "run"],
      [1, "run"],
    ]);
    // A hook recorded before specs were stored cannot be compared: it runs.
    expect(hookChanges([{ phase: "post", index: 0, succeeded: true }], before)[0]?.action).toBe("run");
  });
});
