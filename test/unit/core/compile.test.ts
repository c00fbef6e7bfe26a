import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CompileContext,
  type CompiledStack,
  compileStack,
  specHash,
} from "../../../src/core/compile.ts";
import {
  type CompiledValue,
  renderCompiledText,
  renderCompiledValue,
  type TextPart,
} from "../../../src/core/compiled.ts";
import { renderText, renderValue } from "../../../src/core/render.ts";
import { sha256Hex } from "../../../src/core/sha256.ts";
import type { HookSpec, ServerSpec, Template } from "../../../src/core/template.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

const CONTEXT: CompileContext = {
  team: "acme",
  stackId: "st-1",
  member: "ada",
  userdata: { github_username: "ada-gh", region: "eu" },
};
const hookSecrets = (h: HookSpec) => (h.type === "slack_msg" ? ["slack_token"] : []);

function compile(yaml: string, context: CompileContext = CONTEXT): CompiledStack {
  const { template, plan, problems } = loadTemplate(yaml, "t.yaml", PROVIDERS);
  if (!template || !plan) throw new Error(problems.map((p) => p.message).join("\n"));
  return compileStack(template, plan, context, { hookSecrets });
}

const server = (stack: CompiledStack, name: string) => {
  const s = stack.servers.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name}`);
  return s;
};

const BASE = `vars: { port: 3306, debug: true }
servers:
  - name: db
    provider: sim
    type: t3.micro
    options: { boot_ms: 10, fail: false }
    user_data: |
      mysqld --port $vars.port
  - name: web
    provider: localhost
    type: sandbox
    user_data: |
      connect \${servers.db.IP}:$vars.port as $koding.userdata.github_username
      echo $$servers.db.IP costs $$5 and $HOME
post_hooks:
  - slack_msg: { channel: ops, msg: "web at $servers.web.IP for $koding.artifact.memberName, $koding.userdata.api_token" }
`;

describe("compileStack", () => {
  it("resolves server references to (server, artifact) pairs and renders what is static", () => {
    const web = server(compile(BASE), "web");
    expect(web.provider).toBe("local");
    expect(web.dependsOn).toEqual(["db"]);
    expect(web.userData).toEqual([
      "connect ",
      { server: "db", artifact: "IP", raw: `\${servers.db.IP}` },
      ":3306 as ",
      { userdata: "github_username", value: "ada-gh", raw: "$koding.userdata.github_username" },
      "\necho $servers.db.IP costs $$5 and $HOME\n",
    ] satisfies TextPart[]);
  });

  it("puts the servers in topological order with their template positions, and records the settings", () => {
    const stack = compile(BASE.replace("servers:\n", "settings: { on_failure: rollback }\nservers:\n"));
    expect(stack.servers.map((s) => [s.name, s.index, s.order])).toEqual([
      ["db", 0, 0],
      ["web", 1, 1],
    ]);
    expect(stack.settings.onFailure).toBe("rollback");
    expect(stack.levels).toBe(2);
  });

  it("compiles hook params into holes at their paths, stack artifacts rendered in post_hooks", () => {
    const hook = compile(BASE).postHooks[0];
    expect(hook).toMatchObject({ phase: "post", index: 0, type: "slack_msg", continueOnError: false });
    expect(hook?.params.value).toEqual({
      channel: "ops",
      msg: "web at $servers.web.IP for $koding.artifact.memberName, $koding.userdata.api_token",
    });
    expect(hook?.params.holes).toEqual([
      {
        path: ["msg"],
        text: [
          "web at ",
          { server: "web", artifact: "IP", raw: "$servers.web.IP" },
          " for ada, ",
          { userdata: "api_token", raw: "$koding.userdata.api_token" },
        ],
      },
    ]);
    expect(hook?.secrets).toEqual({ userdata: ["api_token"], team: ["slack_token"] });
  });

  it("names every secret the stack uses, member keys in order of first use, never a value", () => {
    const stack = compile(BASE);
    expect(stack.secrets).toEqual({ userdata: ["github_username", "api_token"], team: ["slack_token"] });
  });

  it("never puts a secret in its output: it reads none, and member data stays a reference", () => {
    // A value the member gave as a secret exists only in the Secrets port; compile has no way to
    // read it, so whatever the member's non-secret data, the output names the key, not the value.
    const text = JSON.stringify(compile(BASE, { ...CONTEXT, userdata: {} }));
    expect(text).not.toContain("ada-gh");
    expect(text).toContain('"userdata":"github_username"');
  });
});

describe("specHash", () => {
  const hashes = (yaml: string, context: CompileContext = CONTEXT) =>
    Object.fromEntries(compile(yaml, context).servers.map((s) => [s.name, s.hash]));
  const before = hashes(BASE);

  it("is a SHA-256 over the canonical spec, stable across compiles", () => {
    expect(before.db).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes(BASE)).toEqual(before);
    const db = server(compile(BASE), "db");
    expect(db.hash).toBe(specHash(db));
  });

  it("does not change for key order, reference spelling, hooks or another server's change", () => {
    expect(hashes(BASE.replace("{ boot_ms: 10, fail: false }", "{ fail: false, boot_ms: 10 }"))).toEqual(
      before,
    );
    expect(hashes(BASE.replace(`\${servers.db.IP}:`, "$servers.db.IP:"))).toEqual(before);
    expect(hashes(BASE.replace("channel: ops", "channel: dev"))).toEqual(before);
    expect(hashes(BASE.replace("provider: localhost", "provider: local"))).toEqual(before);
    expect(hashes(BASE.replace("mysqld --port", "mysqld  --port")).web).toBe(before.web);
  });

  it("changes when the server's provider, type, options, user_data, or a value it renders changes", () => {
    const changed = (yaml: string, context?: CompileContext) => hashes(yaml, context).web !== before.web;
    expect(
      changed(BASE.replace("provider: localhost\n    type: sandbox", "provider: sim\n    type: sandbox")),
    ).toBe(true);
    expect(changed(BASE.replace("type: sandbox", "type: 2cpu/4gb-ram"))).toBe(true);
    expect(changed(BASE.replace("type: sandbox\n", "type: sandbox\n    options: {}\n"))).toBe(false);
    expect(changed(BASE.replace("as $koding", "as  $koding"))).toBe(true);
    expect(changed(BASE.replace("servers.db.IP}", "servers.db.PrivateIP}"))).toBe(true);
    expect(changed(BASE.replace("port: 3306", "port: 3307"))).toBe(true);
    expect(changed(BASE, { ...CONTEXT, userdata: { github_username: "other" } })).toBe(true);
    expect(hashes(BASE.replace("boot_ms: 10", "boot_ms: 11")).db).not.toBe(before.db);
  });
});

describe("sha256Hex", () => {
  it("agrees with node:crypto on any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        expect(sha256Hex(text)).toBe(createHash("sha256").update(text, "utf8").digest("hex"));
      }),
      { numRuns: 500 },
    );
  });
});

describe("rendering compiled text", () => {
  const values = {
    servers: { db: { IP: "10.0.0.1" } },
    secrets: { github_username: "secret-wins" },
  };

  it("prefers the member's secret over the non-secret value, and names what it cannot resolve", () => {
    const text = server(compile(BASE), "web").userData;
    expect(renderCompiledText(text, values)).toBe(
      "connect 10.0.0.1:3306 as secret-wins\necho $servers.db.IP costs $$5 and $HOME\n",
    );
    expect(renderCompiledText(text, { ...values, secrets: {} })).toContain("as ada-gh\n");
    expect(() => renderCompiledText(text, { servers: {}, secrets: {} })).toThrow(
      "cannot resolve `$" + "{servers.db.IP}`: no value given for it",
    );
  });

  it("keeps a value's shape and a `__proto__` key as data", () => {
    const compiled: CompiledValue = {
      value: JSON.parse('{"__proto__": {"x": "$servers.db.IP"}, "list": [1, "a"]}'),
      holes: [{ path: ["__proto__", "x"], text: [{ server: "db", artifact: "IP", raw: "$servers.db.IP" }] }],
    };
    const out = renderCompiledValue(compiled, values) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"x":"10.0.0.1"},"list":[1,"a"]}');
  });
});

// Compiling, then rendering with what a task knows, gives what rendering the template did.
describe("compile then render equals render", () => {
  const refs = [
    "$vars.a",
    `\${vars.b}`,
    "$vars.missing",
    "$servers.db.IP",
    `\${servers.db.Id}`,
    "$servers.web.IP",
    "$koding.artifact.db.PrivateIP",
    "$koding.artifact.stackId",
    "$koding.artifact.domainName",
    "$koding.artifact.nope",
    "$koding.userdata.k1",
    `\${koding.userdata.k2}`,
    "$koding.userdata.k3",
    "$servers.db",
  ];
  const noise = ["$", "$$", "{", "}", ".", " ", "x", "\n", "$HOME", `\${`, "$1"];
  const text = fc.array(fc.constantFrom(...refs, ...noise), { maxLength: 14 }).map((p) => p.join(""));
  const artifacts = fc.record(
    { IP: fc.constant("10.0.0.2"), Id: fc.constant("i-1"), PrivateIP: fc.constant("10.1.0.2") },
    { requiredKeys: [] },
  );
  const strings = (keys: string[]): fc.Arbitrary<Record<string, string>> =>
    fc
      .subarray(keys)
      .chain((present) =>
        fc
          .tuple(...present.map(() => fc.string({ maxLength: 4 })))
          .map((values) => Object.fromEntries(present.map((k, i) => [k, values[i] as string]))),
      );

  it("for user_data, pre_hooks and post_hooks alike", () => {
    fc.assert(
      fc.property(
        text,
        fc.constantFrom("server", "pre", "post"),
        artifacts,
        strings(["k1", "k2"]),
        strings(["k2", "k3"]),
        (t, scope, dbArtifacts, given, secrets) => {
          const vars = { a: "1", b: true };
          const userData = scope === "server" ? t : "";
          const params = { msg: t, nested: [{ body: t }] };
          const servers: ServerSpec[] = [
            { name: "db", provider: "sim", type: "t", userData: "", dependsOn: [], options: {} },
            { name: "app", provider: "sim", type: "t", userData, dependsOn: ["db"], options: {} },
          ];
          const hook: HookSpec = { type: "webhook", phase: "pre", index: 0, params, continueOnError: false };
          const template: Template = {
            vars,
            settings: { onFailure: "keep", maxParallel: 1, serverTimeoutSeconds: 60 },
            servers,
            preHooks: scope === "pre" ? [hook] : [],
            postHooks: scope === "post" ? [{ ...hook, phase: "post" }] : [],
          };
          const compiled = compileStack(
            template,
            {
              order: ["db", "app"],
              levels: [["db"], ["app"]],
              servers: servers.map((s) => ({ ...s, provider: "sim" })),
            },
            { ...CONTEXT, userdata: given },
            { hookSecrets },
          );
          const stackArtifacts = {
            stackId: CONTEXT.stackId,
            memberName: CONTEXT.member,
            teamName: CONTEXT.team,
            domainName: `${CONTEXT.member}.${CONTEXT.team}.teamstack.local`,
          };
          const data = {
            vars,
            artifacts:
              scope === "pre" ? {} : { ...(scope === "post" ? stackArtifacts : {}), db: dbArtifacts },
            userdata: { ...given, ...secrets },
          };
          const run = { servers: scope === "pre" ? {} : { db: dbArtifacts }, secrets };
          const outcome = (f: () => unknown) => {
            try {
              return { ok: f() };
            } catch (error) {
              return { error: (error as Error).message };
            }
          };
          if (scope === "server") {
            const app = compiled.servers.find((s) => s.name === "app");
            expect(outcome(() => renderCompiledText(app?.userData ?? [], run))).toEqual(
              outcome(() => renderText(t, data)),
            );
          } else {
            const h = scope === "pre" ? compiled.preHooks[0] : compiled.postHooks[0];
            expect(outcome(() => renderCompiledValue(h?.params as CompiledValue, run))).toEqual(
              outcome(() => renderValue(params, data)),
            );
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
