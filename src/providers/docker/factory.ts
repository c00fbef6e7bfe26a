import { readFileSync } from "node:fs";
import type { PreflightRequest, Provider, ProviderHost } from "../../ports/provider.ts";
import { ProviderRequestError } from "../errors.ts";
import { BUILTIN_IMAGE, createDockerProvider, DOCKER } from "./docker-provider.ts";
import { endpointFromEnv } from "./endpoint.ts";

/** The `docker` provider's implementation, loaded by the registry on first use. */

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * `TEAMSTACK_DOCKER_LABELS`: `k=v,k=v`, more labels on everything the provider makes.
 * @throws ProviderRequestError for a malformed list.
 */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of (text ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)=(.*)$/.exec(part);
    if (!m)
      throw new ProviderRequestError(`TEAMSTACK_DOCKER_LABELS: ${JSON.stringify(part)} is not KEY=VALUE`);
    labels[m[1] as string] = m[2] as string;
  }
  return labels;
}

function build(host: ProviderHost) {
  return createDockerProvider({
    localEndpoint: endpointFromEnv(process.env, readIfThere),
    defaultImage: process.env.TEAMSTACK_DOCKER_IMAGE || BUILTIN_IMAGE,
    labels: parseLabels(process.env.TEAMSTACK_DOCKER_LABELS),
    ...(host.credentials ? { credentials: host.credentials } : {}),
    ...(host.logs ? { logs: host.logs } : {}),
  });
}

/**
 * Containers on this machine's engine (DOCKER_HOST, else /var/run/docker.sock) or a team's Docker
 * host; the default image is TEAMSTACK_DOCKER_IMAGE (else debian:bookworm-slim).
 */
export function create(host: ProviderHost): Provider {
  return build(host);
}

/**
 * Refuses, before anything is created, an engine that does not answer or an image it lacks.
 * @throws DockerUnreachableError naming the endpoint; DockerImageMissingError naming the image.
 */
export async function preflight(request: PreflightRequest, host: ProviderHost): Promise<void> {
  const provider = build(host);
  const seen = new Set<string>();
  for (const server of request.servers) {
    if (server.provider !== DOCKER) continue;
    const options = server.options ?? {};
    const key = JSON.stringify([options.credential, options.image]);
    if (seen.has(key)) continue;
    seen.add(key);
    await provider.preflight(request.team, options);
  }
}
