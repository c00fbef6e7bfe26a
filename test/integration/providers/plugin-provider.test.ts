import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { providerCatalog } from "../../../src/core/providers.ts";
import { templateSchema } from "../../../src/core/schema.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { type LocalEngine, openLocalEngine } from "../../../src/local/engine.ts";
import type { ProviderModule } from "../../../src/ports/provider.ts";
import type { StackKey } from "../../../src/ports/store.ts";
import { PROVIDER_MODULES, PROVIDERS } from "../../../src/providers/registry.ts";
import { subprocessModule } from "../../fixtures/providers/subprocess/index.ts";

// A provider added from a folder (test/fixtures/providers/subprocess: a declaration and a factory)
// by registering it once. Its templates validate (types, sizes, options and user_data checked
// from its declaration), plan, run through the real ASL on the local engine with its servers as
// real child processes, and are destroyed.

const MODULES: readonly ProviderModule[] = [...PROVIDER_MODULES, subprocessModule];
const CATALOG = providerCatalog(MODULES.map((m) => m.declaration));

const TEMPLATE = `servers:
  - name: db
    provider: subprocess
    type: proc.small
    options: { nice: 5, label: primary }
    user_data: |
      echo "db up as $TEAMSTACK_SERVER" > db.txt
  - name: app
    provider: child
    type: 2cpu/2gb-ram
    user_data: |
      echo "app talks to $servers.db.IP" > app.txt
  - name: extra
    provider: sim
    type: t3.micro
post_hooks:
  - run_script:
      target_server: app
      script: cat app.txt label 2>&1; echo from-hook
`;

/** Line and column (1-based) of the first occurrence of `needle`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  expect(at, needle).not.toBe(-1);
  const before = text.slice(0, at);
  return { line: before.split("\n").length, column: at - before.lastIndexOf("\n") };
}

describe("a provider added from a folder by one registry line", () => {
  it("validates and plans a template that uses it, its alias included", () => {
    const { template, plan, problems } = loadTemplate(TEMPLATE, "stack.yaml", CATALOG);
    expect(problems).toEqual([]);
    expect(template?.servers.map((s) => [s.name, s.provider, s.options])).toEqual([
      ["db", "subprocess", { nice: 5, label: "primary" }],
      ["app", "subprocess", {}],
      ["extra", "sim", {}],
    ]);
    expect(plan?.levels).toEqual([["db", "extra"], ["app"]]);
    expect(plan?.servers.find((s) => s.name === "app")?.dependsOn).toEqual(["db"]);
  });

  it("rejects what its declaration does not allow, naming the option, the line and what it takes", () => {
    const text = `servers:
  - name: a
    provider: subprocess
    type: t3.micro
  - name: b
    provider: subprocess
    type: 16cpu/2gb-ram
  - name: c
    provider: subprocess
    type: proc.large
    options:
      nice: 40
      colour: blue
      label: Not-A-Word
  - name: d
    provider: subprocess
    type: proc.small
    user_data: "${"x".repeat(5000)}"
`;
    const { template, problems } = loadTemplate(text, "stack.yaml", CATALOG);
    expect(template).toBeUndefined();
    expect(problems.map(({ line, column, message }) => ({ line, column, message }))).toEqual([
      {
        ...positionOf(text, "t3.micro"),
        message:
          "server `a`: provider `subprocess` has no machine type `t3.micro`; expected a subprocess type such as proc.small or a portable size such as 4gb-ram/40gb-disk",
      },
      {
        ...positionOf(text, "16cpu"),
        message:
          "server `b`: provider `subprocess` has no offering for `16cpu/2gb-ram`: a subprocess has at most 8 CPUs",
      },
      {
        ...positionOf(text, "40"),
        message: "server `c`: options.nice: expected a whole number from 0 to 19, found number 40",
      },
      {
        ...positionOf(text, "colour"),
        message: "server `c`: provider `subprocess` does not support option `colour`; supported: nice, label",
      },
      {
        ...positionOf(text, "Not-A-Word"),
        message: "server `c`: options.label: expected a lowercase word, found `Not-A-Word`",
      },
      {
        ...positionOf(text, `"xxx`),
        message:
          "server `d`: user_data is 5000 bytes; a subprocess takes its script as one argument of at most 4 KB: at most 4096 bytes (fetch a larger script from user_data instead)",
      },
    ]);
  });

  it("is unknown to the registry it was not added to", () => {
    const { problems } = loadTemplate(TEMPLATE, "stack.yaml", PROVIDERS);
    expect(problems[0]?.message).toContain("unknown provider `subprocess`; expected one of aws, local, sim");
  });

  it("puts its provider names and options into the JSON Schema", () => {
    const validate = new Ajv({ strict: false }).compile(templateSchema(CATALOG));
    expect(validate(parse(TEMPLATE))).toBe(true);
    expect(
      validate(
        parse("servers: [{ name: a, provider: subprocess, type: proc.small, options: { nice: 40 } }]"),
      ),
    ).toBe(false);
    expect(
      validate(parse("servers: [{ name: a, provider: child, type: proc.small, options: { ami: x } }]")),
    ).toBe(false);
  });
});

describe("a stack of the added provider's servers on the local engine", () => {
  let stateDir: string;
  let engine: LocalEngine;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "teamstack-plugin-"));
    engine = await openLocalEngine({ stateDir, providers: MODULES });
  });

  afterAll(async () => {
    await engine?.close();
    await stopLocalStore(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("creates its servers as child processes, runs a hook on one, and destroys them", async () => {
    const key: StackKey = { team: "test", stackId: "plugin-1" };
    const now = new Date().toISOString();
    await engine.store.createStack({
      ...key,
      member: "ada",
      status: "RUNNING",
      run: 0,
      templateYaml: TEMPLATE,
      templateFile: "stack.yaml",
      templateHash: createHash("sha256").update(TEMPLATE).digest("hex"),
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
    });
    const run = await engine.provision(key);
    expect(run.status).toBe("SUCCEEDED");
    const servers = new Map((await engine.store.listServers(key)).map((s) => [s.name, s]));
    expect(servers.get("db")).toMatchObject({ provider: "subprocess", status: "SUCCEEDED" });
    expect(servers.get("app")?.artifacts).toMatchObject({ Provider: "subprocess", Type: "2cpu/2gb-ram" });
    expect(servers.get("extra")?.artifacts?.Provider).toBe("sim");
    // user_data ran in each server's own directory, with the reference rendered.
    const homes = readdirSync(join(stateDir, "subprocess")).map((d) =>
      join(stateDir, "subprocess", d, "home"),
    );
    const written = homes.flatMap((h) =>
      ["db.txt", "app.txt"]
        .filter((f) => existsSync(join(h, f)))
        .map((f) => readFileSync(join(h, f), "utf8")),
    );
    expect(written.sort()).toEqual(["app talks to 127.0.0.1\n", "db up as db\n"]);
    const hook = (await engine.store.listHooks(key)).find((h) => h.phase === "post");
    expect(hook).toMatchObject({ status: "SUCCEEDED" });
    expect(hook?.output).toContain("from-hook");
    // It declares `stop` and not `start`, so the runtime's provider has the one and not the other.
    expect(typeof engine.providers.provider("child").stop).toBe("function");
    expect(engine.providers.provider("child").start).toBeUndefined();
    // So its servers cannot be stopped and started: the power machine refuses, naming them, and
    // changes nothing.
    const stop = await engine.stop(key);
    expect(stop.status === "FAILED" && stop.error).toBe("PowerRefusedError");
    expect(stop.status === "FAILED" && stop.cause).toContain(
      "servers db (subprocess: no start), app (subprocess: no start)",
    );
    expect((await engine.store.getStack(key))?.status).toBe("SUCCEEDED");
    expect((await engine.store.getStack(key))?.lock).toBeUndefined();

    const down = await engine.destroy(key);
    expect(down.status).toBe("SUCCEEDED");
    const after = await engine.store.listServers(key);
    expect(after.map((s) => s.status)).toEqual(["DESTROYED", "DESTROYED", "DESTROYED"]);
    expect(readdirSync(join(stateDir, "subprocess"))).toEqual([]);
  });
});
