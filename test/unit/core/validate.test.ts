import { describe, expect, it } from "vitest";
import type { Problem } from "../../../src/core/errors.ts";
import { serverDependencies } from "../../../src/core/graph.ts";
import { planTemplate } from "../../../src/core/plan.ts";
import { providerCatalog } from "../../../src/core/providers.ts";
import type { Template } from "../../../src/core/template.ts";
import { loadTemplate, MAX_TEMPLATE_BYTES } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

const FILE = "stack.yaml";

/** Joins lines into a template text, so that line numbers in the tests are easy to count. */
const yaml = (...lines: string[]): string => `${lines.join("\n")}\n`;

const SERVER = ["servers:", "  - name: db", "    provider: sim", "    type: small"];

function valid(text: string): Template {
  const { template, problems } = loadTemplate(text, FILE, PROVIDERS);
  expect(problems).toEqual([]);
  expect(template).toBeDefined();
  return template as Template;
}

function problemsOf(text: string | Uint8Array): Array<Omit<Problem, "file">> {
  const { template, problems } = loadTemplate(text, FILE, PROVIDERS);
  expect(template).toBeUndefined();
  for (const p of problems) expect(p.file).toBe(FILE);
  return problems.map(({ line, column, message }) => ({ line, column, message }));
}

/** Line and column (1-based) of the n-th occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string, n = 1): { line: number; column: number } {
  let at = -1;
  for (let k = 0; k < n; k++) at = text.indexOf(needle, at + 1);
  expect(at, `${needle} #${n} in the text`).not.toBe(-1);
  const before = text.slice(0, at);
  return { line: before.split("\n").length, column: at - before.lastIndexOf("\n") };
}

describe("loadTemplate: positions of references", () => {
  it("points at a reference's own line and column inside a literal block, not the block's first line", () => {
    const text = yaml(
      ...SERVER,
      "  - name: web",
      "    provider: sim",
      "    type: small",
      "    user_data: |",
      "      set -e",
      "      apt-get install -y nginx",
      '      echo "upstream $servers.dbb.IP:5432" >> /etc/app.conf',
    );
    const [p, ...rest] = problemsOf(text);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ line: 11, column: 22 });
    expect(p).toEqual({ ...positionOf(text, "$servers.dbb.IP"), message: expect.stringContaining("`dbb`") });
  });

  it("places each of several identical references on its own line", () => {
    const text = yaml(
      ...SERVER,
      "    user_data: |",
      "      echo $vars.nope",
      "      echo $vars.nope $vars.nope",
    );
    expect(problemsOf(text).map(({ line, column }) => ({ line, column }))).toEqual([
      positionOf(text, "$vars.nope", 1),
      positionOf(text, "$vars.nope", 2),
      positionOf(text, "$vars.nope", 3),
    ]);
  });

  it("does not mistake the text inside a `$$` escape for the reference after it", () => {
    const text = yaml(...SERVER, "    user_data: |", "      echo $$vars.nope is literal, $vars.nope is not");
    expect(problemsOf(text)).toEqual([
      {
        line: 6,
        column: positionOf(text, " $vars.nope").column + 1,
        message: expect.stringContaining("`nope`"),
      },
    ]);
  });

  it("skips a block's header line, even when its comment mentions the reference", () => {
    const text = yaml(...SERVER, "    user_data: |- # needs $vars.nope", "      echo $vars.nope");
    const [p] = problemsOf(text);
    expect(p).toMatchObject({ line: 6, column: 12 });
  });

  it("points into a folded block at the reference's line", () => {
    const text = yaml(
      ...SERVER,
      "  - name: app",
      "    provider: sim",
      "    type: small",
      "    user_data: >",
      "      curl -fsS",
      "      http://$servers.db.IP/health",
      "      || echo $servers.db.Ipaddr",
    );
    const [p, ...rest] = problemsOf(text);
    expect(rest).toEqual([]);
    expect(p).toMatchObject(positionOf(text, "$servers.db.Ipaddr"));
    expect(p?.message).toContain("unknown server artifact `Ipaddr`");
  });

  it("points into double-quoted strings after escapes", () => {
    const text = yaml(...SERVER, '    user_data: "printf \\"%s\\\\t%s\\" $vars.a $vars.b"');
    const problems = problemsOf(text);
    expect(problems.map(({ line, column }) => ({ line, column }))).toEqual([
      positionOf(text, "$vars.a"),
      positionOf(text, "$vars.b"),
    ]);
  });

  it("points into single-quoted and multi-line plain strings", () => {
    const text = yaml(
      ...SERVER,
      "post_hooks:",
      "  - slack_msg:",
      "      channel: ops",
      "      msg: 'it''s up at $servers.db.IP and $servers.dc.IP'",
      "  - send_tweet:",
      "      msg: ready",
      "        at $servers.dx.IP",
    );
    expect(problemsOf(text).map(({ line, column }) => ({ line, column }))).toEqual([
      positionOf(text, "$servers.dc.IP"),
      positionOf(text, "$servers.dx.IP"),
    ]);
  });

  it("points at the first character of a malformed braced reference", () => {
    const text = yaml("vars:", "  port: 80", ...SERVER, `    user_data: echo \${vars.port:-8080}`);
    const [p] = problemsOf(text);
    expect(p).toMatchObject(positionOf(text, `\${vars.port`));
    expect(p?.message).toContain(`malformed reference \`\${vars.port:-8080}\``);
  });
});

describe("loadTemplate: what a valid template becomes", () => {
  it("maps the provider `localhost` to `local`", () => {
    const t = valid(yaml("servers:", "  - name: dev", "    provider: localhost", "    type: sandbox"));
    expect(t.servers[0]?.provider).toBe("local");
  });

  it("runs mapping-form pre_hooks in document order", () => {
    const t = valid(
      yaml(
        "pre_hooks:",
        "  webhook:",
        "    url: https://hooks.example.com/start",
        "  add_github_user:",
        "    org: koding",
        "    team_name: backend",
        "    user: $koding.userdata.github_username",
        "  slack_msg:",
        "    channel: ops",
        "    msg: starting",
        ...SERVER,
      ),
    );
    expect(t.preHooks.map((h) => [h.type, h.index, h.phase])).toEqual([
      ["webhook", 0, "pre"],
      ["add_github_user", 1, "pre"],
      ["slack_msg", 2, "pre"],
    ]);
  });

  it("reads continue_on_error into the hook and out of its parameters", () => {
    const t = valid(
      yaml(
        ...SERVER,
        "post_hooks:",
        "  - send_tweet:",
        "      msg: done",
        "      continue_on_error: true",
        "  - slack_msg:",
        "      channel: ops",
        "      msg: done",
      ),
    );
    expect(t.postHooks.map((h) => h.continueOnError)).toEqual([true, false]);
    expect(t.postHooks[0]?.params).toEqual({ msg: "done" });
    expect(Object.hasOwn(t.postHooks[0]?.params ?? {}, "continue_on_error")).toBe(false);
  });

  it("does not count `$$servers.x.IP` in user_data as a dependency", () => {
    const t = valid(
      yaml(
        "servers:",
        "  - name: a",
        "    provider: sim",
        "    type: small",
        "    user_data: echo '$$servers.b.IP is written literally'",
        "  - name: b",
        "    provider: sim",
        "    type: small",
        "    user_data: echo $servers.a.IP",
      ),
    );
    const [a, b] = t.servers;
    expect(serverDependencies(a as (typeof t.servers)[number])).toEqual([]);
    expect(serverDependencies(b as (typeof t.servers)[number])).toEqual(["a"]);
    expect(planTemplate(t).levels).toEqual([["a"], ["b"]]);
  });

  it("reports a reference that closes a cycle that `$$` would not", () => {
    const problems = problemsOf(
      yaml(
        "servers:",
        "  - name: a",
        "    provider: sim",
        "    type: small",
        "    user_data: echo $servers.b.IP",
        "  - name: b",
        "    provider: sim",
        "    type: small",
        "    user_data: echo $servers.a.IP",
      ),
    );
    expect(problems).toEqual([
      { line: 5, column: 21, message: expect.stringContaining("dependency cycle: a → b → a") },
    ]);
  });
});

describe("loadTemplate: the plan it computes", () => {
  it("answers the plan with a valid template, as planTemplate would make it, and none with an invalid one", () => {
    const text = yaml(
      "servers:",
      "  - name: db",
      "    provider: sim",
      "    type: small",
      "  - name: cache",
      "    provider: sim",
      "    type: small",
      "  - name: web",
      "    provider: sim",
      "    type: small",
      "    depends_on: [cache]",
      "    user_data: echo $servers.db.IP $servers.cache.IP $servers.db.Id",
      "post_hooks:",
      "  - slack_msg: { channel: ops, msg: done }",
    );
    const { template, plan } = loadTemplate(text, FILE, PROVIDERS);
    expect(plan).toEqual(planTemplate(template as Template));
    expect(plan?.servers.find((s) => s.name === "web")?.dependsOn).toEqual(["db", "cache"]);
    expect(plan?.levels).toEqual([["db", "cache"], ["web"]]);
    expect(
      loadTemplate(yaml(...SERVER, "    user_data: echo $servers.db.IP"), FILE, PROVIDERS).plan,
    ).toBeUndefined();
  });
});

describe("loadTemplate: against the providers it is given", () => {
  it("refuses a portable size no offering of the provider fits, where the size is written", () => {
    const text = yaml("servers:", "  - name: big", "    provider: aws", "    type: 512cpu/4gb-ram");
    expect(problemsOf(text)).toEqual([
      {
        line: 4,
        column: 11,
        message: expect.stringContaining(
          "server `big`: provider `aws` has no offering for `512cpu/4gb-ram`: it is larger than any aws offering",
        ),
      },
    ]);
  });

  it("knows no provider when given an empty catalog", () => {
    const { problems } = loadTemplate(yaml(...SERVER), FILE, providerCatalog([]));
    expect(problems.map((p) => p.message)).toEqual([
      "server `db`: unknown provider `sim`; no provider is registered",
    ]);
  });
});

describe("loadTemplate: every problem, in order", () => {
  it("reports all problems of a template sorted by line and column", () => {
    const problems = problemsOf(
      yaml(
        "settings:",
        "  on_failure: explode",
        "  max_parallel: 0",
        "servers:",
        "  - name: web",
        "    provider: gcp",
        "    type: n1-standard-1",
        "  - name: web",
        "    provider: sim",
        "    type: small",
        "    user_data: echo $vars.missing",
      ),
    );
    expect(problems.map((p) => [p.line, p.column])).toEqual([
      [2, 15],
      [3, 17],
      [6, 15],
      [8, 11],
    ]);
    expect(problems[3]?.message).toContain("duplicate server name `web` (first used at line 5)");
  });

  it("refuses a text over the size limit with one problem and without parsing it", () => {
    const text = `servers: [${"[".repeat(MAX_TEMPLATE_BYTES)}`;
    expect(problemsOf(text)).toEqual([
      { line: 1, column: 1, message: expect.stringContaining("a template may be at most 1.0 MB") },
    ]);
  });

  it("reads bytes as UTF-8 and ignores a byte order mark", () => {
    const bytes = new TextEncoder().encode(`\ufeff${yaml(...SERVER, "    user_data: echo café $vars.x")}`);
    expect(problemsOf(bytes)).toEqual([{ line: 5, column: 26, message: expect.stringContaining("`x`") }]);
  });
});

// Quadratic work would make these take minutes: the test timeout catches that; speed itself is
// measured by `npm run bench`.
describe("loadTemplate: large templates", () => {
  it("places 40,000 references in one block in linear time", () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `      echo $servers.db.IP $vars.v${i % 7}`);
    const problems = problemsOf(
      yaml(...SERVER, "  - name: app", "    provider: sim", "    type: small", "    user_data: |", ...lines),
    );
    expect(problems).toHaveLength(20_000);
    expect(problems[19_999]).toMatchObject({ line: 20_008, column: 27 });
  });

  it("keeps naming unknown servers among thousands without comparing every pair", () => {
    const servers = Array.from({ length: 5000 }, (_, i) =>
      [`  - name: s${i}`, "    provider: sim", "    type: small", `    depends_on: [x${i}]`].join("\n"),
    );
    const problems = problemsOf(yaml("servers:", ...servers));
    expect(problems).toHaveLength(5000);
    expect(problems[0]?.message).toContain("depends_on names unknown server `x0`; servers are: s0, s1,");
    expect(problems[4999]?.message).toMatch(/unknown server `x4999`; servers are: s0, .*, s19, \.\.\.$/);
  });
});

describe("loadTemplate: prototype safety", () => {
  const keysOfObjectPrototype = (): string[] => Object.getOwnPropertyNames(Object.prototype).sort();

  it("never pollutes Object.prototype, whatever `__proto__` and `constructor` keys a template holds", () => {
    const before = keysOfObjectPrototype();
    const text = yaml(
      "vars:",
      "  __proto__: { polluted: yes }",
      "  constructor: { prototype: { polluted: yes } }",
      "__proto__:",
      "  polluted: yes",
      "servers:",
      "  - name: db",
      "    provider: sim",
      "    type: small",
      "    __proto__: { polluted: yes }",
      "    options:",
      "      __proto__: { polluted: yes }",
      "      constructor: { prototype: { polluted: yes } }",
      "post_hooks:",
      "  - webhook:",
      "      url: https://hooks.example.com",
      "      __proto__: { polluted: yes }",
      "      body:",
      "        __proto__: { polluted: yes }",
      "        nested: [{ __proto__: { polluted: yes } }]",
    );
    const problems = problemsOf(text);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 10, 12, 13, 17, 19, 20]);
    expect(problems.filter((p) => p.message.includes("`__proto__` cannot be a key"))).toHaveLength(2);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(keysOfObjectPrototype()).toEqual(before);
  });

  it("keeps a `constructor` key of a webhook body as data", () => {
    const t = valid(
      yaml(
        ...SERVER,
        "post_hooks:",
        "  - webhook:",
        "      url: https://hooks.example.com",
        "      body: { constructor: builder, toString: text }",
      ),
    );
    const body = t.postHooks[0]?.params.body as Record<string, unknown>;
    expect(Object.getPrototypeOf(body)).toBeNull();
    expect(body).toEqual({ constructor: "builder", toString: "text" });
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it("does not take `__proto__` or `constructor` for a var or a server name", () => {
    expect(problemsOf(yaml("vars:", "  constructor: x", ...SERVER))).toEqual([
      { line: 2, column: 3, message: "`constructor` is a reserved word and cannot name a var" },
    ]);
    expect(
      problemsOf(yaml("servers:", "  - name: __proto__", "    provider: sim", "    type: small")),
    ).toEqual([{ line: 2, column: 11, message: "`__proto__` is a reserved word and cannot name a server" }]);
  });
});
