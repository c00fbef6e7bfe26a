import { describe, expect, it } from "vitest";
import {
  ProviderCatalogError,
  type ProviderDeclaration,
  providerCatalog,
  providersIn,
} from "../../../src/core/providers.ts";

function declaration(name: string, extra: Partial<ProviderDeclaration> = {}): ProviderDeclaration {
  return {
    name,
    aliases: [],
    summary: `${name} servers`,
    capabilities: {
      nativeType: /^x$/,
      nativeTypeExample: "x",
      sizes: { describe: "as written", map: (_size, written) => ({ type: written }) },
      options: {},
      verbs: [],
      readiness: "watch",
    },
    runsIn: ["local-runtime"],
    ...extra,
  };
}

describe("providerCatalog", () => {
  it("looks providers up by name and alias, in the order given", () => {
    const catalog = providerCatalog([
      declaration("one", { aliases: ["uno"] }),
      declaration("two", { simulator: true, runsIn: ["lambda", "local-runtime"] }),
    ]);
    expect(catalog.names).toEqual(["one", "two"]);
    expect(catalog.canonical("uno")).toBe("one");
    expect(catalog.lookup("uno")?.name).toBe("one");
    expect(catalog.lookup("three")).toBeUndefined();
    expect(catalog.lookup("__proto__")).toBeUndefined();
    expect(catalog.simulator?.name).toBe("two");
    expect(providersIn(catalog, "lambda")).toEqual(["two"]);
  });

  it("refuses a name declared twice, as a name or an alias", () => {
    expect(() => providerCatalog([declaration("one"), declaration("one")])).toThrow(ProviderCatalogError);
    expect(() => providerCatalog([declaration("one"), declaration("two", { aliases: ["one"] })])).toThrow(
      /`one` is declared twice/,
    );
  });

  it("refuses a malformed name and a second simulator", () => {
    expect(() => providerCatalog([declaration("Bad Name")])).toThrow(/provider name `Bad Name`/);
    expect(() =>
      providerCatalog([declaration("a", { simulator: true }), declaration("b", { simulator: true })]),
    ).toThrow(/`a` and `b` both declare themselves the simulator/);
  });
});
