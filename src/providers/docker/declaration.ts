import type { PortableSize } from "../../core/capabilities.ts";
import type { ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `docker` provider's declaration: servers are containers on a Docker Engine (Docker Engine,
 * Docker Desktop or Podman's Docker-compatible service), this machine's own or a team's host
 * registered as a credential (see README.md beside it). Pure: validation, the JSON Schema and the
 * API read it.
 */

/** The native type: `container` (no limits) or `container-<N>cpu-<M>mb` (either part optional). */
export const DOCKER_TYPE = /^container(?:-(\d+(?:\.\d+)?)cpu)?(?:-(\d+)mb)?$/;

/** The native type a portable size becomes: its CPUs and memory as the container's limits. */
export function dockerTypeOf(size: PortableSize): string {
  return `container${size.cpu !== undefined ? `-${size.cpu}cpu` : ""}${size.ramMb !== undefined ? `-${size.ramMb}mb` : ""}`;
}

const NAME = /^[A-Za-z0-9_-]+$/;
/** An image reference: `[registry/]name[:tag][@digest]`. */
const IMAGE = /^[a-z0-9][a-z0-9._/:@-]{0,254}$/;

export const dockerDeclaration: ProviderDeclaration = {
  name: "docker",
  aliases: [],
  summary:
    "Containers on a Docker Engine API (Docker Engine, Docker Desktop, Podman): this machine's own engine, or a team's Docker host.",
  capabilities: {
    nativeType: DOCKER_TYPE,
    nativeTypeExample: "container-2cpu-4096mb",
    sizes: {
      describe:
        "CPUs and memory become the container's limits (NanoCpus, Memory); a gb-disk part is accepted and not enforced (the engine's storage has no per-container quota)",
      map: (size) => {
        if (size.cpu !== undefined && size.cpu > 256) return { problem: "at most 256 CPUs" };
        if (size.ramMb !== undefined && size.ramMb < 6) return { problem: "at least 6 MB of memory" };
        return { type: dockerTypeOf(size) };
      },
    },
    options: {
      image: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: IMAGE,
          describe: "an image reference such as debian:bookworm-slim",
        },
        doc: "The container's image (default: the credential's `image`, else the operator's TEAMSTACK_DOCKER_IMAGE, else debian:bookworm-slim). It needs /bin/sh.",
      },
      credential: {
        value: { kind: "string", interpolated: false, pattern: NAME, describe: "a credential name" },
        doc: "Name of the team credential (a Docker host) to use; without it the server runs on this machine's own engine (DOCKER_HOST or /var/run/docker.sock).",
      },
    },
    userDataLimit: {
      bytes: 1024 * 1024,
      why: "user_data reaches the container through an exec's stdin and lives in its memory (a tmpfs)",
    },
    verbs: ["stop", "start", "shell"],
    readiness: "watch",
  },
  credentials: {
    describe:
      "A Docker host: its Engine API endpoint and, for TLS, the CA that signed it and a client certificate with its key.",
    fields: {
      endpoint: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^(?:tcp:\/\/[A-Za-z0-9.:[\]-]+:\d{1,5}|unix:\/\/\/\S+|\/\S+|ssh:\/\/\S+)$/,
          describe: "tcp://HOST:PORT, unix:///PATH, /PATH or ssh://[USER@]HOST[:PORT]",
        },
        required: true,
        secret: false,
        doc: "The Engine API: tcp://HOST:PORT (TLS when `ca`, `cert` and `key` are given), a unix socket, or ssh://USER@HOST (the system's ssh runs `docker system dial-stdio` there).",
      },
      ca: {
        value: { kind: "string", interpolated: false, describe: "a PEM certificate" },
        secret: false,
        doc: "PEM of the CA that signed the engine's certificate (tcp with TLS).",
      },
      cert: {
        value: { kind: "string", interpolated: false, describe: "a PEM certificate" },
        secret: false,
        doc: "PEM of the client certificate (tcp with TLS).",
      },
      key: {
        value: { kind: "string", interpolated: false, describe: "a PEM private key" },
        secret: true,
        doc: "PEM of the client certificate's private key (tcp with TLS); kept as a secret.",
      },
      image: {
        value: { kind: "string", interpolated: false, pattern: IMAGE, describe: "an image reference" },
        secret: false,
        doc: "The image of servers on this host that name none.",
      },
    },
  },
  // Lambda: not listed. Its servers' readiness is watched (one open exec per server while
  // user_data runs), which a task function that ends cannot do; see README.md beside it.
  runsIn: ["local-runtime"],
  sharesHost: (options) => options.credential === undefined,
};
