import type { ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `ssh` provider's declaration: servers are working directories and process sessions on the
 * team's own machines, reached with the system's OpenSSH client (see README.md beside it). Pure:
 * validation, the JSON Schema and the API read it.
 */

/** A credential name, as the API takes it (`PUT /teams/{team}/credentials/{name}`). */
export const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** The OpenSSH public key types a host key may be pinned as. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

/** One line of `ssh-keyscan` output (without the host), or of a host's /etc/ssh/ssh_host_*_key.pub. */
export const HOST_KEY_LINE = new RegExp(`^(${HOST_KEY_TYPES.join("|")}) [A-Za-z0-9+/]+={0,2}( \\S.*)?$`);

/** Where servers' directories go on a host unless its credential says otherwise. */
export const DEFAULT_ROOT = "~/.teamstack/servers";

/** An absolute path, or one under the login user's home (`~/...`), of plain path characters. */
export const ROOT_PATH = /^(~|~\/[A-Za-z0-9_.+@-][A-Za-z0-9_.+@/-]*|\/[A-Za-z0-9_.+@/-]*)$/;

export const sshDeclaration: ProviderDeclaration = {
  name: "ssh",
  aliases: [],
  summary:
    "The team's own Linux machines, reached over SSH: each server is a directory and a process session on a registered host.",
  capabilities: {
    nativeType: /^host$/,
    nativeTypeExample: "host",
    sizes: {
      describe: "every size is the host as it is: sizes are accepted and not enforced",
      map: () => ({ type: "host" }),
    },
    options: {
      host: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: HOST_NAME,
          describe: "the name of a registered ssh host",
        },
        doc: "The team's registered ssh host to run on (default: one of the team's ssh hosts, picked from the stack and server names).",
      },
    },
    verbs: ["shell"],
    readiness: "watch",
  },
  credentials: {
    describe:
      "A Linux machine the team reaches over SSH: its address, a login user with a private key, and its host key, pinned (a connection presenting another key is refused).",
    fields: {
      address: {
        value: {
          kind: "string",
          interpolated: false,
          pattern:
            /^([A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?|[0-9A-Fa-f:.]+)$/,
          describe: "a hostname or an IP address",
        },
        required: true,
        secret: false,
        doc: "The host's name or IP address; servers on it report it as their IP.",
      },
      port: {
        value: { kind: "integer", min: 1, max: 65535 },
        secret: false,
        doc: "Its SSH port (default 22).",
      },
      user: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/,
          describe: "a login name",
        },
        required: true,
        secret: false,
        doc: "The user servers run as; its processes are what destroy looks through.",
      },
      privateKey: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----/,
          describe: "an unencrypted private key in OpenSSH or PEM form",
        },
        required: true,
        secret: true,
        doc: "The user's private key, without a passphrase; kept as a secret and only ever handed to an ssh-agent.",
      },
      hostKey: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: HOST_KEY_LINE,
          describe:
            "a public host key line such as `ssh-ed25519 AAAA...` (ssh-keyscan prints it after the host)",
        },
        required: true,
        secret: false,
        doc: "The host's public key, pinned: `ssh-keyscan -t ed25519 -p PORT ADDRESS` prints it after the address.",
      },
      root: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: ROOT_PATH,
          describe: "an absolute path or one starting with ~/",
        },
        secret: false,
        doc: `Where servers' working directories go (default ${DEFAULT_ROOT}).`,
      },
    },
  },
  runsIn: ["local-runtime"],
};
