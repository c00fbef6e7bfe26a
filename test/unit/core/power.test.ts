import { describe, expect, it } from "vitest";
import { compileStack } from "../../../src/core/compile.ts";
import { describeUnstoppable, unstoppableServers } from "../../../src/core/power.ts";
import { type ProviderDeclaration, providerCatalog } from "../../../src/core/providers.ts";
import type { Template } from "../../../src/core/template.ts";
import { parseExpiry } from "../../../src/core/validate/structure.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { simDeclaration } from "../../../src/providers/sim/declaration.ts";

// on_start, settings.ttl and settings.auto_stop in the template language, and which servers can stop.

const FILE = "stack.yaml";
const yaml = (...lines: string[]): string => `${lines.join("\n")}\n`;

function problemsOf(text: string) {
  const { template, problems } = loadTemplate(text, FILE, PROVIDERS);
  expect(template).toBeUndefined();
  return problems.map(({ line, column, message }) => ({ line, column, message }));
}

function valid(text: string) {
  const loaded = loadTemplate(text, FILE, PROVIDERS);
  expect(loaded.problems).toEqual([]);
  return loaded as { template: Template; plan: NonNullable<typeof loaded.plan> };
}

describe("settings.ttl and settings.auto_stop", () => {
  it("reads durations in days, hours, minutes and seconds", () => {
    const { template } = valid(
      yaml(
        "settings: { ttl: 7d, auto_stop: 1h30m }",
        "servers:",
        "  - { name: a, provider: sim, type: t3.micro }",
      ),
    );
    expect(template.settings.ttlSeconds).toBe(7 * 86_400);
    expect(template.settings.autoStopSeconds).toBe(5400);
    expect(parseExpiry("10s")).toBe(10);
    expect(parseExpiry("1d12h")).toBe(129_600);
    expect(parseExpiry(90)).toBe(90);
    for (const bad of ["", "0s", "1h1d", "10", "soon", "-5m"]) expect(parseExpiry(bad), bad).toBeUndefined();
  });

  it("reports every bad duration at its place, saying what is expected", () => {
    const text = yaml(
      "settings:",
      "  ttl: soon",
      "  auto_stop: 400d",
      "servers:",
      "  - { name: a, provider: sim, type: t3.micro }",
    );
    expect(problemsOf(text)).toEqual([
      {
        line: 2,
        column: 8,
        message: "settings.ttl: expected a duration such as 10s, 30m, 8h or 7d (at most 366d), found `soon`",
      },
      {
        line: 3,
        column: 14,
        message:
          "settings.auto_stop: expected a duration such as 10s, 30m, 8h or 7d (at most 366d), found `400d`",
      },
    ]);
  });
});

describe("on_start", () => {
  it("refuses what is not a script, and references that user_data could not use, at their place", () => {
    const text = yaml(
      "servers:",
      "  - name: db",
      "    provider: sim",
      "    type: t3.micro",
      "    on_start: [echo, hi]",
      "  - name: app",
      "    provider: sim",
      "    type: t3.micro",
      "    on_start: |",
      "      echo $servers.nope.IP",
      "      echo $servers.app.IP",
    );
    const problems = problemsOf(text);
    expect(problems).toEqual([
      {
        line: 5,
        column: 15,
        message: expect.stringContaining("server `db`: on_start must be a script (a string"),
      },
      {
        line: 10,
        column: 12,
        message: expect.stringContaining(
          "server `app` on_start: `$servers.nope.IP` names unknown server `nope`",
        ),
      },
      {
        line: 11,
        column: 12,
        message: expect.stringContaining(
          "server `app` on_start: `$servers.app.IP`: server `app` references itself",
        ),
      },
    ]);
  });

  it("makes the servers it references dependencies, and compiles outside the spec hash", () => {
    const base = [
      "servers:",
      "  - { name: db, provider: sim, type: t3.micro }",
      "  - name: app",
      "    provider: sim",
      "    type: t3.micro",
      "    user_data: echo hi",
    ];
    const withOnStart = valid(yaml(...base, "    on_start: echo $servers.db.IP $vars.x", "vars: { x: 1 }"));
    const without = valid(yaml(...base, "vars: { x: 1 }"));
    expect(withOnStart.plan.servers.find((s) => s.name === "app")?.dependsOn).toEqual(["db"]);
    const ctx = { team: "t", stackId: "s", member: "m", userdata: {} };
    const options = { hookSecrets: () => [] };
    const a = compileStack(withOnStart.template, withOnStart.plan, ctx, options).servers.find(
      (s) => s.name === "app",
    );
    const b = compileStack(without.template, without.plan, ctx, options).servers.find(
      (s) => s.name === "app",
    );
    expect(a?.onStart).toEqual(["echo ", { server: "db", artifact: "IP", raw: "$servers.db.IP" }, " 1"]);
    expect(b?.onStart).toBeUndefined();
    // Changing on_start replaces nothing: it is not part of the spec hash.
    expect(a?.hash).toBe(b?.hash);
  });
});

describe("which servers can stop", () => {
  it("names the servers whose provider lacks stop or start, and passes the built-in ones", () => {
    const noStart: ProviderDeclaration = {
      ...simDeclaration,
      name: "half",
      aliases: [],
      simulator: false,
      capabilities: { ...simDeclaration.capabilities, verbs: ["stop"] },
    };
    const catalog = providerCatalog([...PROVIDERS.declarations, noStart]);
    const servers = [
      { name: "db", provider: "aws" },
      { name: "box", provider: "localhost" },
      { name: "x", provider: "half" },
      { name: "y", provider: "sim" },
    ];
    const found = unstoppableServers(servers, catalog);
    expect(found).toEqual([{ name: "x", provider: "half", missing: ["start"] }]);
    expect(describeUnstoppable(found)).toBe("x (half: no start)");
  });
});
