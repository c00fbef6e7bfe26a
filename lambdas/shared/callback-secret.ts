import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { MissingConfigurationError, requireEnv } from "./env.ts";

/**
 * The secret readiness callbacks are signed with: the Secrets Manager secret CALLBACK_SECRET_ARN
 * (its string, or its binary value), read once per container on first use.
 * @throws MissingConfigurationError when the variable is missing or the secret cannot be read.
 */
export function callbackSecretLoader(
  client: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
): () => Promise<Uint8Array> {
  let loaded: Promise<Uint8Array> | undefined;
  const load = async (): Promise<Uint8Array> => {
    const arn = requireEnv("CALLBACK_SECRET_ARN", env);
    let out: { SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined };
    try {
      out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (error) {
      throw new MissingConfigurationError(
        `cannot read the readiness callback secret ${arn} (CALLBACK_SECRET_ARN): ${(error as Error).name}`,
      );
    }
    const value = out.SecretBinary ?? (out.SecretString ? Buffer.from(out.SecretString, "utf8") : undefined);
    if (!value || value.length < 16) {
      throw new MissingConfigurationError(
        `the readiness callback secret ${arn} (CALLBACK_SECRET_ARN) must hold at least 16 bytes`,
      );
    }
    return value;
  };
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}
