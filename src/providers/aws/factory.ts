import { join } from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { PreflightRequest, Provider, ProviderHost } from "../../ports/provider.ts";
import type { TeamDirectory } from "../../ports/store.ts";
import { createDynamoBootstrapLeases } from "../../store/dynamo/bootstrap-leases.ts";
import { ProviderRequestError } from "../errors.ts";
import { createAwsProvider, parseAwsOptions } from "./aws-provider.ts";
import { CredentialSource } from "./credentials.ts";
import { AwsCredentialError } from "./errors.ts";

/**
 * The `aws` provider's implementation, loaded by the registry on first use: EC2 in each team's own
 * account, the team's role assumed through this process's STS (or the team's access keys, read
 * from Secrets Manager), instances reporting readiness to the host's callback.
 */

function storeOf(host: ProviderHost): Pick<TeamDirectory, "getCredential"> {
  if (!host.store) {
    throw new ProviderRequestError("the aws provider finds teams' credentials in the store; none was given");
  }
  return host.store;
}

export function create(host: ProviderHost): Provider {
  const store = storeOf(host);
  if (!host.table) {
    throw new ProviderRequestError(
      "the aws provider keeps its bootstrap leases in the store's table; none was given",
    );
  }
  return createAwsProvider({
    leases: createDynamoBootstrapLeases(host.table),
    ...(host.rateBudget ? { launches: host.rateBudget } : {}),
    findCredential: (team, name) => store.getCredential(team, name),
    credentials: new CredentialSource({ secretsManager: new SecretsManagerClient({}) }),
    ...(host.callback ? { callback: host.callback } : {}),
    ...(host.stateDir ? { knownHostsDir: join(host.stateDir, "aws-ssh") } : {}),
  });
}

/**
 * Refuses, before anything is created, servers whose credential the team has not registered.
 * @throws AwsCredentialError naming each missing credential and the servers that use it.
 */
export async function preflight(request: PreflightRequest, host: ProviderHost): Promise<void> {
  const store = storeOf(host);
  const users = new Map<string, string[]>();
  for (const s of request.servers) {
    const name = parseAwsOptions(s.options).credential;
    users.set(name, [...(users.get(name) ?? []), s.name]);
  }
  const missing: string[] = [];
  for (const [name, servers] of users) {
    const found = await store.getCredential(request.team, name);
    if (!found || found.kind === "fields") {
      missing.push(`\`${name}\` (used by ${servers.join(", ")})`);
    }
  }
  if (missing.length > 0) {
    throw new AwsCredentialError(
      `team \`${request.team}\` has no aws credential ${missing.join(", ")}: register the team's role under ${missing.length === 1 ? "that name" : "those names"} first (PUT /teams/${request.team}/credentials/NAME)`,
    );
  }
}
