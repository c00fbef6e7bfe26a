import type { PreflightRequest, Provider, ProviderHost } from "../../ports/provider.ts";
import { ProviderRequestError } from "../errors.ts";
import { findSshTools } from "./client.ts";
import { sshDeclaration } from "./declaration.ts";
import { SshHostError } from "./errors.ts";
import { createSshProvider, HOW_TO_REGISTER } from "./ssh-provider.ts";

/** The `ssh` provider's implementation, loaded by the registry on first use. */

/**
 * Servers on the teams' registered hosts.
 * @throws ProviderRequestError where the runtime gives no teams' credentials.
 */
export function create(host: ProviderHost): Provider {
  if (!host.credentials) {
    throw new ProviderRequestError(
      "the ssh provider finds teams' hosts among their registered credentials; this runtime gives it none",
    );
  }
  return createSshProvider({ credentials: host.credentials, ...(host.logs ? { logs: host.logs } : {}) });
}

/**
 * Refuses, before anything is created, servers whose host the team has not registered (or, for
 * servers without `options.host`, a team with no ssh host at all), and a machine without the
 * OpenSSH client.
 * @throws SshHostError naming the servers and how to register a host; SshConnectionError naming the missing tool.
 */
export async function preflight(request: PreflightRequest, host: ProviderHost): Promise<void> {
  await findSshTools();
  // Where no credentials are given (a check before the store is open), create checks them instead.
  if (!host.credentials) return;
  const provider = sshDeclaration.name;
  const byHost = new Map<string, string[]>();
  const pooled: string[] = [];
  for (const s of request.servers) {
    const named = s.options?.host;
    if (typeof named === "string" && named !== "") byHost.set(named, [...(byHost.get(named) ?? []), s.name]);
    else pooled.push(s.name);
  }
  const missing: string[] = [];
  for (const [name, servers] of byHost) {
    if (!(await host.credentials.get(request.team, name, provider))) {
      missing.push(`\`${name}\` (used by ${servers.join(", ")})`);
    }
  }
  if (missing.length > 0) {
    throw new SshHostError(
      `team \`${request.team}\` has no ssh host ${missing.join(", ")}: ${HOW_TO_REGISTER(request.team)}`,
    );
  }
  if (pooled.length > 0 && (await host.credentials.list(request.team, provider)).length === 0) {
    throw new SshHostError(
      `servers ${pooled.join(", ")} run on one of team \`${request.team}\`'s ssh hosts, and it has registered none: ${HOW_TO_REGISTER(request.team)}`,
    );
  }
}
