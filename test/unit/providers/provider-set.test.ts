import { describe, expect, it } from "vitest";
import type { ProviderDeclaration } from "../../../src/core/providers.ts";
import type { Provider, ProviderImplementation, ProviderModule } from "../../../src/ports/provider.ts";
import { providerSet } from "../../../src/providers/provider-set.ts";

// The runtime's view of the registry: providers are made on first use, from modules whose code is
// imported then; a provider that does not run here is refused; an implementation must be the one
// declared.

function declaration(name: string, extra: Partial<ProviderDeclaration> = {}): ProviderDeclaration {
  return {
    name,
    aliases: [`${name}-alias`],
    summary: name,
    capabilities: {
      nativeType: /^x$/,
      nativeTypeExample: "x",
      sizes: { describe: "as written", map: (_s, written) => ({ type: written }) },
      options: {},
      verbs: [],
      readiness: "watch",
    },
    runsIn: ["local-runtime"],
    ...extra,
  };
}

function fakeProvider(name: string, extra: Partial<Provider> = {}): Provider {
  return {
    name,
    create: async () => ({ Id: `${name}-1`, IP: "127.0.0.1" }),
    waitUntilReady: async () => ({ ready: true }),
    runScript: async () => ({ exitCode: 0, output: "", truncated: false }),
    destroy: async () => undefined,
    ...extra,
  };
}

/** A module whose loads are counted, and which can be told to fail its next load. */
function countedModule(d: ProviderDeclaration, impl: ProviderImplementation) {
  const counts = { loads: 0, failNext: false };
  const module: ProviderModule = {
    declaration: d,
    load: async () => {
      counts.loads++;
      if (counts.failNext) {
        counts.failNext = false;
        throw new Error("import failed");
      }
      return impl;
    },
  };
  return { module, counts };
}

const request = {
  stackId: "s",
  team: "t",
  member: "m",
  server: "a",
  type: "x",
  options: {},
  userData: "",
  idempotencyToken: "s.a.1",
};

describe("providerSet", () => {
  it("loads a provider's code on its first call, once, and tries again after a failed import", async () => {
    const { module, counts } = countedModule(declaration("one"), { create: () => fakeProvider("one") });
    const set = providerSet({
      modules: [module],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(`no ${n}`),
    });
    const p = set.provider("one-alias");
    expect(p.name).toBe("one");
    expect(set.provider("one")).toBe(p);
    expect(counts.loads).toBe(0);
    counts.failNext = true;
    await expect(p.create(request)).rejects.toThrow("import failed");
    await p.create(request);
    await p.destroy({ stackId: "s", server: "a", id: "one-1" });
    expect(counts.loads).toBe(2);
  });

  it("refuses a provider that does not run in its runtime, or that it does not know", () => {
    const { module } = countedModule(declaration("cloud", { runsIn: ["lambda"] }), {
      create: () => fakeProvider("cloud"),
    });
    const set = providerSet({
      modules: [module],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(`${n} is not here`),
    });
    expect(set.available).toEqual([]);
    expect(set.catalog.names).toEqual(["cloud"]);
    expect(() => set.provider("cloud")).toThrow("cloud is not here");
    expect(() => set.provider("nowhere")).toThrow("nowhere is not here");
  });

  it("refuses an implementation that is not the one declared", async () => {
    const named = providerSet({
      modules: [countedModule(declaration("one"), { create: () => fakeProvider("other") }).module],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(n),
    });
    await expect(named.provider("one").create(request)).rejects.toThrow(
      "the `one` provider's factory made a provider named `other`",
    );
    const verbs = providerSet({
      modules: [
        countedModule(
          declaration("two", { capabilities: { ...declaration("two").capabilities, verbs: ["stop"] } }),
          {
            create: () => fakeProvider("two"),
          },
        ).module,
      ],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(n),
    });
    const two = verbs.provider("two");
    expect(typeof two.stop).toBe("function");
    await expect(two.create(request)).rejects.toThrow(
      "declares stop but its implementation has no such method",
    );
  });

  it("offers each verb its declaration lists (stop, start, shell) and no other", async () => {
    const withShell = declaration("three", {
      capabilities: { ...declaration("three").capabilities, verbs: ["shell"] },
    });
    const set = providerSet({
      modules: [
        countedModule(withShell, {
          create: () =>
            fakeProvider("three", {
              shell: async (ref, term) =>
                ({ command: ["sh"], env: { TERM: term ?? "" }, id: ref.id }) as never,
            }),
        }).module,
      ],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(n),
    });
    const three = set.provider("three");
    expect(three.stop).toBeUndefined();
    expect(three.start).toBeUndefined();
    const ref = { team: "t", stackId: "s", server: "a", id: "three-1" };
    expect(await three.shell?.(ref, "xterm")).toEqual({
      command: ["sh"],
      env: { TERM: "xterm" },
      id: "three-1",
    });
  });

  it("runs the preflight of each provider a stack uses, and not of simulated ones", async () => {
    const asked: string[] = [];
    const module = (name: string) =>
      countedModule(declaration(name), {
        create: () => fakeProvider(name),
        preflight: async (req) => {
          asked.push(`${name}:${req.team}:${req.servers.map((s) => s.name).join(",")}`);
          if (name === "broken") throw new Error("broken cannot run here");
        },
      }).module;
    const set = providerSet({
      modules: [module("one"), module("two"), module("broken")],
      runtime: "local-runtime",
      host: {},
      unavailable: (n) => new Error(n),
    });
    const server = (name: string, provider: string) => ({
      name,
      provider,
      type: "x",
      userData: "",
      dependsOn: [],
      options: {},
    });
    await set.preflight("acme", [server("a", "one"), server("b", "one"), server("c", "two")], ["two"]);
    expect(asked).toEqual(["one:acme:a,b"]);
    await expect(set.preflight("acme", [server("d", "broken")], [])).rejects.toThrow(
      "broken cannot run here",
    );
  });
});
