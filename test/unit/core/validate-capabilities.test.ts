import { describe, expect, it } from "vitest";
import { providerCatalog } from "../../../src/core/providers.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDER_MODULES } from "../../../src/providers/registry.ts";
import { HOSTBOX, hostboxDeclaration } from "../../support/fixture-provider.ts";

// A template that asks a provider for an optional verb it lacks is refused at the server's line,
// naming the capability: against the registry plus a provider with none of the optional verbs.
const catalog = providerCatalog([...PROVIDER_MODULES.map((m) => m.declaration), hostboxDeclaration]);
const withStart = catalog.declarations
  .filter((d) => d.capabilities.verbs.includes("start"))
  .map((d) => d.name);
const withStop = catalog.declarations.filter((d) => d.capabilities.verbs.includes("stop")).map((d) => d.name);

const yaml = (...lines: string[]): string => `${lines.join("\n")}\n`;

function problemsOf(text: string) {
  const { template, problems } = loadTemplate(text, "stack.yaml", catalog);
  expect(template).toBeUndefined();
  return problems.map(({ line, column, message }) => ({ line, column, message }));
}

describe("validation of what a server asks of its provider", () => {
  it("refuses on_start on a provider that cannot start servers, at the on_start line", () => {
    const text = yaml(
      "servers:",
      "  - name: db",
      "    provider: sim",
      "    type: small",
      "  - name: web",
      `    provider: ${HOSTBOX}`,
      "    type: host",
      "    on_start: echo started",
    );
    expect(problemsOf(text)).toEqual([
      {
        line: 8,
        column: 15,
        message: `server \`web\` (line 5): on_start runs when a server starts, and provider \`${HOSTBOX}\` cannot start servers (it lacks the \`start\` capability; providers with it: ${withStart.join(", ")})`,
      },
    ]);
  });

  it("refuses settings.auto_stop at every server whose provider cannot stop, and only those", () => {
    const text = yaml(
      "settings:",
      "  auto_stop: 2h",
      "servers:",
      "  - name: a",
      `    provider: ${HOSTBOX}`,
      "    type: host",
      "  - name: b",
      "    provider: sim",
      "    type: small",
      `  - { name: c, provider: ${HOSTBOX}, type: host }`,
    );
    const why = `settings.auto_stop (line 2) stops every server of the stack, and provider \`${HOSTBOX}\` cannot stop servers (it lacks the \`stop\` capability; providers with it: ${withStop.join(", ")})`;
    expect(problemsOf(text)).toEqual([
      { line: 5, column: 15, message: `server \`a\` (line 4): ${why}` },
      { line: 10, column: 26, message: `server \`c\` (line 10): ${why}` },
    ]);
  });

  it("takes the same servers without on_start or auto_stop, and on_start where the provider starts servers", () => {
    const text = yaml(
      "settings: { ttl: 1d }",
      "servers:",
      `  - { name: a, provider: ${HOSTBOX}, type: host }`,
      "  - { name: b, provider: sim, type: small, on_start: echo hi }",
    );
    expect(loadTemplate(text, "stack.yaml", catalog).problems).toEqual([]);
  });
});
