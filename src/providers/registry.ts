import { type ProviderCatalog, providerCatalog } from "../core/providers.ts";
import type { ProviderModule } from "../ports/provider.ts";
import { awsDeclaration } from "./aws/declaration.ts";
import { dockerDeclaration } from "./docker/declaration.ts";
import { localDeclaration } from "./local/declaration.ts";
import { simDeclaration } from "./sim/declaration.ts";
import { sshDeclaration } from "./ssh/declaration.ts";

/**
 * The providers teamstack knows: the one place they are listed, one line each. A provider is a
 * folder (src/providers/<name>/) with a pure declaration.ts and a factory.ts; adding one is a
 * folder and a line here. Validation, the JSON Schema, the API's patterns, the policy, the
 * Lambda and local wiring and the CDK app's grants all derive from this list. Factories are
 * imported on first use, so reading the registry loads no provider code.
 */
export const PROVIDER_MODULES: readonly ProviderModule[] = [
  { declaration: awsDeclaration, load: () => import("./aws/factory.ts") },
  { declaration: localDeclaration, load: () => import("./local/factory.ts") },
  { declaration: simDeclaration, load: () => import("./sim/factory.ts") },
  { declaration: dockerDeclaration, load: () => import("./docker/factory.ts") },
  { declaration: sshDeclaration, load: () => import("./ssh/factory.ts") },
];

/** The registry's declarations, looked up by name or alias: what templates are validated against. */
export const PROVIDERS: ProviderCatalog = providerCatalog(PROVIDER_MODULES.map((m) => m.declaration));

/**
 * A provider's factory module as the registry imports it, `./NAME/factory.ts` (each provider's
 * folder bears its name; the registry test checks it): what a bundle names to leave it out.
 */
export function factoryImport(provider: string): string {
  return `./${provider}/factory.ts`;
}

/**
 * Every factory: a bundle that reads only the declarations (the console and its validator) leaves
 * them all out, so that it carries no provider code, and its `import()`s are never reached.
 */
export const FACTORY_IMPORTS: readonly string[] = PROVIDERS.names.map(factoryImport);
