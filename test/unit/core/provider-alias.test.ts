import { describe, expect, it } from "vitest";
import { checkPolicyProviders } from "../../../src/api/policy.ts";
import { ProviderCatalogError, providerCatalog } from "../../../src/core/providers.ts";
import { templateSchema } from "../../../src/core/schema.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { hostboxDeclaration } from "../../support/fixture-provider.ts";

const SEED_SPELLING = "virtualbox/localhost";
const local = PROVIDERS.lookup(SEED_SPELLING);

describe("the seed's spelling of the local provider", () => {
  it("is an alias of local in the registry", () => {
    expect(local).toBeDefined();
    expect(PROVIDERS.canonical(SEED_SPELLING)).toBe(local?.name);
    expect(local?.aliases).toContain(SEED_SPELLING);
  });

  it("validates as the local provider and is noted once, however many servers use it", () => {
    const text = [
      "servers:",
      "  - name: devrim",
      `    provider: ${SEED_SPELLING}`,
      "    type: 4gb-ram/40gb-disk",
      "  - name: other",
      `    provider: ${SEED_SPELLING}`,
      "    type: sandbox",
      "",
    ].join("\n");
    const { template, problems, notes } = loadTemplate(text, "seed.yaml", PROVIDERS);
    expect(problems).toEqual([]);
    expect(template?.servers.map((s) => s.provider)).toEqual([local?.name, local?.name]);
    expect(notes).toEqual([
      {
        file: "seed.yaml",
        line: 3,
        column: 15,
        message: `\`${SEED_SPELLING}\` is another name for \`${local?.name}\``,
      },
    ]);
  });

  it("leaves the result without notes when no alias is used", () => {
    const text = `servers:\n  - { name: a, provider: ${local?.name}, type: sandbox }\n`;
    expect(loadTemplate(text, "t.yaml", PROVIDERS).notes).toBeUndefined();
  });

  it("is in the JSON Schema's provider names and refused by a policy, which takes canonical names", () => {
    expect(JSON.stringify(templateSchema(PROVIDERS))).toContain(`"${SEED_SPELLING}"`);
    expect(checkPolicyProviders(PROVIDERS, [SEED_SPELLING])).toEqual({
      ok: false,
      problems: [
        `providers[0]: \`${SEED_SPELLING}\` is another name for \`${local?.name}\`; give \`${local?.name}\``,
      ],
    });
  });
});

describe("provider names in a catalog", () => {
  const withAlias = (name: string, aliases: string[]) => ({ ...hostboxDeclaration, name, aliases });

  it("allows one / inside an alias, never in a canonical name, and never two", () => {
    expect(providerCatalog([withAlias("box", ["vendor/box"])]).canonical("vendor/box")).toBe("box");
    expect(() => providerCatalog([withAlias("vendor/box", [])])).toThrow(ProviderCatalogError);
    expect(() => providerCatalog([withAlias("vendor/box", [])])).toThrow(
      "provider name `vendor/box`: expected a lowercase letter, then letters, digits or - (at most 32)",
    );
    for (const bad of ["a/b/c", "/box", "box/", "Box/x"]) {
      expect(() => providerCatalog([withAlias("box", [bad])]), bad).toThrow(`provider name \`${bad}\``);
    }
  });
});
