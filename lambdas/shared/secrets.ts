import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Secrets } from "../../src/ports/secrets.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";

let client: SecretsManagerClient | undefined;
/** The container's one Secrets Manager client (members' and teams' secrets, the aws provider's keys). */
export function secretsManagerClient(): SecretsManagerClient {
  client ??= new SecretsManagerClient({});
  return client;
}

/** Members' and teams' secrets in Secrets Manager. */
export function buildAwsSecrets(): Secrets {
  return createAwsSecrets(secretsManagerClient());
}
