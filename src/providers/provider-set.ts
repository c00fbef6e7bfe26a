import type { ProviderCatalog, ProviderDeclaration, Runtime } from "../core/providers.ts";
import { providerCatalog, providersIn } from "../core/providers.ts";
import type { ServerSpec } from "../core/template.ts";
import type { Provider, ProviderHost, ProviderImplementation, ProviderModule } from "../ports/provider.ts";
import { ProviderError } from "./errors.ts";

/**
 * The providers of one runtime, made from their modules: the ones that run there are made on
 * first use (their code imported then), the others refused with the runtime's own error.
 */

export interface ProviderSet {
  /** Every provider of the modules: what templates validate against. */
  readonly catalog: ProviderCatalog;
  /** The providers that make servers in this runtime, in registry order. */
  readonly available: readonly string[];
  /** The provider of this name, made on first use. @throws the `unavailable` error for one that does not run here. */
  provider(name: string): Provider;
  /**
   * Runs the preflight of every provider these servers use (simulated ones are not asked), before
   * anything is created.
   * @throws whatever a provider's preflight throws: what is missing and how to fix it.
   */
  preflight(team: string, servers: readonly ServerSpec[], simulate: readonly string[]): Promise<void>;
}

export interface ProviderSetOptions {
  readonly modules: readonly ProviderModule[];
  readonly runtime: Runtime;
  readonly host: ProviderHost;
  /** The error for a provider that does not run in this runtime (or is unknown). */
  readonly unavailable: (name: string) => Error;
}

export function providerSet(options: ProviderSetOptions): ProviderSet {
  const { modules, runtime, host } = options;
  const catalog = providerCatalog(modules.map((m) => m.declaration));
  const byName = new Map(modules.map((m) => [m.declaration.name, m]));
  const available = providersIn(catalog, runtime);
  const made = new Map<string, Provider>();
  const implementations = new Map<string, Promise<ProviderImplementation>>();
  const implementation = (module: ProviderModule): Promise<ProviderImplementation> => {
    const name = module.declaration.name;
    let loaded = implementations.get(name);
    if (!loaded) {
      loaded = module.load();
      implementations.set(name, loaded);
      // A failed import is tried again next time rather than remembered.
      loaded.catch(() => implementations.delete(name));
    }
    return loaded;
  };
  return {
    catalog,
    available,
    provider(name) {
      const canonical = catalog.canonical(name);
      const module = canonical === undefined ? undefined : byName.get(canonical);
      if (!module || !available.includes(module.declaration.name)) throw options.unavailable(name);
      let p = made.get(module.declaration.name);
      if (!p) {
        p = lazyProvider(module.declaration, () => implementation(module), host);
        made.set(module.declaration.name, p);
      }
      return p;
    },
    async preflight(team, servers, simulate) {
      const byProvider = new Map<string, ServerSpec[]>();
      for (const s of servers) {
        if (simulate.includes(s.provider)) continue;
        byProvider.set(s.provider, [...(byProvider.get(s.provider) ?? []), s]);
      }
      for (const [name, used] of byProvider) {
        const module = byName.get(name);
        if (!module || !available.includes(name)) continue;
        const impl = await implementation(module);
        await impl.preflight?.({ team, servers: used }, host);
      }
    },
  };
}

/**
 * A Provider that imports and makes its implementation on its first call, and checks that the
 * implementation is the one declared (its name, the verbs it declares).
 */
function lazyProvider(
  declaration: ProviderDeclaration,
  load: () => Promise<ProviderImplementation>,
  host: ProviderHost,
): Provider {
  let made: Promise<Provider> | undefined;
  const get = (): Promise<Provider> => {
    if (!made) {
      made = load().then((impl) => checked(declaration, impl.create(host)));
      // A failed import or factory is tried again on the next call rather than remembered.
      made.catch(() => {
        made = undefined;
      });
    }
    return made;
  };
  const provider: { -readonly [K in keyof Provider]: Provider[K] } = {
    name: declaration.name,
    create: async (request) => (await get()).create(request),
    waitUntilReady: async (ref, signal) => (await get()).waitUntilReady(ref, signal),
    runScript: async (ref, script, options) => (await get()).runScript(ref, script, options),
    destroy: async (ref) => (await get()).destroy(ref),
  };
  const verbs = declaration.capabilities.verbs;
  if (verbs.includes("stop")) {
    provider.stop = async (ref) => {
      const p = await get();
      return (p.stop as NonNullable<Provider["stop"]>).call(p, ref);
    };
  }
  if (verbs.includes("start")) {
    provider.start = async (ref) => {
      const p = await get();
      return (p.start as NonNullable<Provider["start"]>).call(p, ref);
    };
  }
  if (verbs.includes("shell")) {
    provider.shell = async (ref, term) => {
      const p = await get();
      return (p.shell as NonNullable<Provider["shell"]>).call(p, ref, term);
    };
  }
  return provider;
}

function checked(declaration: ProviderDeclaration, provider: Provider): Provider {
  if (provider.name !== declaration.name) {
    throw new ProviderError(
      `the \`${declaration.name}\` provider's factory made a provider named \`${provider.name}\``,
    );
  }
  const missing = declaration.capabilities.verbs.filter((v) => typeof provider[v] !== "function");
  if (missing.length > 0) {
    throw new ProviderError(
      `the \`${declaration.name}\` provider declares ${missing.join(", ")} but its implementation has no such method`,
    );
  }
  return provider;
}
