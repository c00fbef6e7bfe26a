import type { PortableSize } from "../../core/capabilities.ts";
import type { ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `docker` provider's declaration: servers are containers on a Docker Engine (Docker Engine,
 * Docker Desktop or Podman's Docker-compatible service), this machine's own or a team's host
 * registered as a credential (see README.md beside it). Pure: validation, the JSON Schema and the
 * API read it.
 */

/** The native type: `container` (no limits) or `container-<N>cpu-<M>mb` (either part optional). */
export const DOCKER_TYPE = /^container(?:-([\d.]+)cpu)?(?:-(\d+)mb)?$/;

/** The native type a portable size becomes: its CPUs and memory as the container's limits. */
export function dockerTypeOf(size: PortableSize): string {
  return `container${size.cpu ? `-${size.cpu}cpu` : ""}${size.ramMb ? `-${size.ramMb}mb` : ""}`;
}

const NAME = /^[A-Za-z0-9_-]+$/;
/** An image reference: `[registry/]name[:tag][@digest]`. */
const IMAGE = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

/** A PEM text field of the credential (tcp with TLS). */
const pem = (secret: boolean, doc: string) =>
  ({ value: { kind: "string", interpolated: false, describe: "PEM" }, secret, doc }) as const;

export const dockerDeclaration: ProviderDeclaration = {
  name: "docker",
  aliases: [],
  summary: "Containers on this machine's Docker Engine or a team's.",
  capabilities: {
    nativeType: DOCKER_TYPE,
    nativeTypeExample: "container-2cpu-4096mb",
    sizes: {
      describe: "CPUs and memory become limits; disk is not enforced",
      // More CPUs or memory than the engine's machine has: the engine refuses the create, saying so.
      map: (size) => ({ type: dockerTypeOf(size) }),
    },
    options: {
      image: {
        value: { kind: "string", interpolated: false, pattern: IMAGE, describe: "an image reference" },
        doc: "Default: TEAMSTACK_DOCKER_IMAGE, else debian:bookworm-slim.",
      },
      credential: {
        value: { kind: "string", interpolated: false, pattern: NAME, describe: "a credential name" },
        doc: "A team's Docker host (default: this machine's).",
      },
    },
    verbs: ["stop", "start", "shell"],
    readiness: "watch",
  },
  credentials: {
    describe: "A Docker host (TLS: ca, cert, key).",
    fields: {
      endpoint: {
        value: {
          kind: "string",
          interpolated: false,
          // A team's host is reached over TCP: a unix socket or ssh:// would use this machine's own
          // access (its engine, its SSH identity), which only the operator gives (DOCKER_HOST).
          pattern: /^tcp:\/\/\S+$/,
          describe: "tcp://HOST:PORT (unix sockets and ssh:// are the operator's, through DOCKER_HOST)",
        },
        required: true,
        secret: false,
        doc: "The Engine API",
      },
      ca: pem(false, "CA"),
      cert: pem(false, "Client certificate"),
      key: pem(true, "Client key"),
    },
  },
  // Not in `lambda`: see README.md beside it.
  runsIn: ["local-runtime"],
  sharesHost: (options) => options.credential === undefined,
};
