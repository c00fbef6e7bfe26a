import type { ValueKind } from "../../core/capabilities.ts";
import type { CredentialField, ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `ssh` provider's declaration: servers are working directories and process sessions on the
 * team's own machines, reached with the system's OpenSSH client (see README.md beside it). Pure:
 * validation, the JSON Schema and the API read it.
 */

/** A credential name, as the API takes it (`PUT /teams/{team}/credentials/{name}`). */
export const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** One line of `ssh-keyscan` output (without the host), or of a host's /etc/ssh/ssh_host_*_key.pub. */
export const HOST_KEY_LINE =
  /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}( \S.*)?$/;

/** Where servers' directories go on a host unless its credential says otherwise. */
export const DEFAULT_ROOT = "~/.teamstack/servers";

/** An absolute path, or one under the login user's home (`~/...`), of plain path characters. */
export const ROOT_PATH = /^~?(\/[\w.+@/-]*)?$/;

const text = (pattern: RegExp, describe: string): ValueKind => ({
  kind: "string",
  interpolated: false,
  pattern,
  describe,
});
const field = (value: ValueKind, doc: string, required = true, secret = false): CredentialField => ({
  value,
  doc,
  required,
  secret,
});

export const sshDeclaration: ProviderDeclaration = {
  name: "ssh",
  aliases: [],
  summary: "A directory and a process session on a team's own Linux host, over SSH.",
  capabilities: {
    nativeType: /^host$/,
    nativeTypeExample: "host",
    sizes: { describe: "sizes are accepted and not enforced", map: () => ({ type: "host" }) },
    options: {
      host: {
        value: text(HOST_NAME, "an ssh host's name"),
        doc: "The ssh host (default: one of the team's).",
      },
    },
    verbs: ["shell"],
    readiness: "watch",
  },
  credentials: {
    describe: "A Linux host, its host key pinned.",
    fields: {
      address: field(text(/^[A-Za-z0-9][\w.:-]*$/, "a hostname or an IP address"), "The servers' IP."),
      port: field({ kind: "integer", min: 1, max: 65535 }, "Default 22.", false),
      user: field(text(/^[A-Za-z_][\w.-]*$/, "a user name"), "Servers run as this user."),
      privateKey: field(
        text(/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----/, "an unencrypted private key"),
        "Only given to ssh-agent.",
        true,
        true,
      ),
      hostKey: field(text(HOST_KEY_LINE, "a line `ssh-ed25519 AAAA...`"), "From ssh-keyscan."),
      root: field(text(ROOT_PATH, "a path, absolute or ~/..."), `Default ${DEFAULT_ROOT}.`, false),
    },
  },
  runsIn: ["local-runtime"],
};
