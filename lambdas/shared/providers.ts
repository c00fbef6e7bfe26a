import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ProviderName } from "../../src/core/template.ts";
import { ProviderUnavailableError } from "../../src/pipeline/errors.ts";
import type { Provider } from "../../src/ports/provider.ts";
import type { Store } from "../../src/ports/store.ts";
import { CredentialSource, createAwsProvider } from "../../src/providers/aws/index.ts";
import { createSimProvider } from "../../src/providers/sim.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { requireEnv } from "./env.ts";
import { secretsManagerClient } from "./secrets.ts";

/**
 * The `aws` provider in AWS: the team's role assumed through this function's STS (or the team's
 * keys read from Secrets Manager), instances reporting readiness to CALLBACK_BASE_URL. It loads the
 * EC2, SSM and STS clients on first use, so functions that never meet an aws server start as fast.
 */
export function buildAwsProvider(
  store: Store,
  secretsManager: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
): Provider {
  const secret = callbackSecretLoader(secretsManager, env);
  return createAwsProvider({
    store,
    credentials: new CredentialSource({ secretsManager }),
    callback: async () => ({ baseUrl: requireEnv("CALLBACK_BASE_URL", env), secret: await secret() }),
  });
}

/**
 * The providers a deployment offers: `aws` servers are EC2 instances in each team's account (the
 * provider is made when a task first needs it: CALLBACK_BASE_URL and CALLBACK_SECRET_ARN are read
 * then); `sim` servers run in AWS too (dry runs of a deployment).
 */
export function buildAwsProviders(
  store: Store,
  env: NodeJS.ProcessEnv = process.env,
): (name: ProviderName) => Provider {
  const sim = createSimProvider({});
  let aws: Provider | undefined;
  return (name) => {
    if (name === "sim") return sim;
    if (name === "aws") {
      aws ??= buildAwsProvider(store, secretsManagerClient(), env);
      return aws;
    }
    throw new ProviderUnavailableError(`the ${name} provider is not available in this deployment`);
  };
}
