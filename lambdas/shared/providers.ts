import type { ProviderName } from "../../src/core/template.ts";
import { providerCredentials } from "../../src/credentials/provider-credentials.ts";
import { ProviderUnavailableError } from "../../src/pipeline/errors.ts";
import type { Provider, ProviderHost, ProviderModule } from "../../src/ports/provider.ts";
import type { TaskStore } from "../../src/ports/store.ts";
import { type ProviderSet, providerSet } from "../../src/providers/provider-set.ts";
import { PROVIDER_MODULES } from "../../src/providers/registry.ts";
import { createDynamoRateBudget } from "../../src/store/rate-budget.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { requireEnv } from "./env.ts";
import { buildAwsSecrets, secretsManagerClient } from "./secrets.ts";
import { awsTable } from "./store.ts";

/**
 * The registry's providers that run in Lambda, over the table named by TABLE_NAME, each made when
 * a task first needs it; servers whose readiness is `callback` report to CALLBACK_BASE_URL with
 * URLs signed by the CALLBACK_SECRET_ARN secret (both read then).
 */
export function buildAwsProviderSet(
  store: TaskStore,
  env: NodeJS.ProcessEnv = process.env,
  modules: readonly ProviderModule[] = PROVIDER_MODULES,
): ProviderSet {
  const secret = callbackSecretLoader(secretsManagerClient(), env);
  const host: { -readonly [K in keyof ProviderHost]: ProviderHost[K] } = {
    store,
    table: awsTable(env),
    rateBudget: createDynamoRateBudget(awsTable(env)),
    callback: async () => ({ baseUrl: requireEnv("CALLBACK_BASE_URL", env), secret: await secret() }),
  };
  const set = providerSet({
    modules,
    runtime: "lambda",
    host,
    unavailable: (name) =>
      new ProviderUnavailableError(`the ${name} provider is not available in this deployment`),
  });
  // Providers are made on first use, after this: they find the set's catalog here.
  host.credentials = providerCredentials({ store, secrets: buildAwsSecrets(), catalog: set.catalog });
  return set;
}

/** The provider for a provider name, as a task takes it. */
export function buildAwsProviders(
  store: TaskStore,
  env: NodeJS.ProcessEnv = process.env,
): (name: ProviderName) => Provider {
  const providers = buildAwsProviderSet(store, env);
  return (name) => providers.provider(name);
}
