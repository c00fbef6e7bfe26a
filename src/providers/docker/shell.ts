import type { ShellCommand } from "../../ports/provider.ts";
import { describeEndpoint, type Endpoint } from "./endpoint.ts";
import { DockerError } from "./errors.ts";

const ENTRY = new URL("./shell-entry.ts", import.meta.url).pathname;

/**
 * The command that opens a shell in a container: this project's small helper (shell-entry.ts),
 * run by the same Node, which bridges the caller's terminal to an Engine exec with a TTY. No docker
 * or podman CLI is needed. A team's host with TLS is refused: its key would have to reach the
 * helper, and it is never written down or passed on.
 */
export function dockerShellCommand(
  endpoint: Endpoint,
  local: boolean,
  container: string,
  term: string | undefined,
): ShellCommand {
  if (!local && endpoint.kind === "tcp" && endpoint.tls) {
    throw new DockerError(
      `a shell on ${describeEndpoint(endpoint)} is not offered: its TLS key stays in teamstack's own process; use teamstack exec`,
    );
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const k of ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH", "HOME"]) {
    const v = process.env[k];
    if (local && v !== undefined) env[k] = v;
  }
  return {
    file: process.execPath,
    args: [ENTRY, local ? "-" : describeEndpoint(endpoint), container],
    options: { stdio: "inherit", env: { ...env, ...(term ? { TERM: term } : {}) } },
  };
}
