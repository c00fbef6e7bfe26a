import type { ProviderDeclaration } from "../../src/core/providers.ts";
import type { ProviderHost, ProviderModule } from "../../src/ports/provider.ts";

/**
 * A provider for tests only: `hostbox`, a team's own host (address, port, user, a private key as
 * a secret, an optional CA certificate as a secret), with none of the optional verbs: what the
 * credential plumbing and the capability checks are tested against without the docker or ssh
 * providers. Its servers "run" on the credential's host: create answers the host's address, read
 * through ProviderHost.credentials, and `Id` says which key it was given (its length, never its value).
 */
export const HOSTBOX = "hostbox";

export const hostboxDeclaration: ProviderDeclaration = {
  name: HOSTBOX,
  aliases: [],
  summary: "A test host reached with a key (tests only).",
  capabilities: {
    nativeType: /^host$/,
    nativeTypeExample: "host",
    sizes: {
      describe: "not mapped: a host is as large as it is",
      map: (_size, written) => ({ problem: `hostbox cannot size a server: \`${written}\` cannot be mapped` }),
    },
    options: {
      credential: {
        value: { kind: "string", interpolated: false, describe: "a credential name" },
        doc: "The team's hostbox credential (default `default`).",
      },
    },
    verbs: [],
    readiness: "watch",
  },
  credentials: {
    describe: "A host reached over a key.",
    fields: {
      address: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[A-Za-z0-9.:-]+$/,
          describe: "a host name or IP address",
        },
        required: true,
        secret: false,
        doc: "Where the host is.",
      },
      port: { value: { kind: "integer", min: 1, max: 65_535 }, secret: false, doc: "Its port (default 22)." },
      user: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[a-z_][a-z0-9_-]*$/,
          describe: "a user name",
        },
        required: true,
        secret: false,
        doc: "Who to log in as.",
      },
      privateKey: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^-----BEGIN [A-Z ]*PRIVATE KEY-----\n/,
          describe: "a private key (PEM or OpenSSH)",
        },
        required: true,
        secret: true,
        doc: "The key to log in with.",
      },
      caCert: {
        value: { kind: "string", interpolated: false, describe: "a PEM certificate" },
        secret: true,
        doc: "A CA certificate.",
      },
    },
  },
  runsIn: ["local-runtime"],
};

/** The hostbox module: its provider reads the team's credential through the host at each create. */
export const hostboxModule: ProviderModule = {
  declaration: hostboxDeclaration,
  load: async () => ({
    create: (host: ProviderHost) => ({
      name: HOSTBOX,
      async create(request) {
        const name = typeof request.options.credential === "string" ? request.options.credential : "default";
        const credential = await host.credentials?.get(request.team, name, HOSTBOX);
        if (!credential) throw new Error(`team ${request.team} has no hostbox credential ${name}`);
        const key = credential.fields.privateKey ?? "";
        return { Id: `key-${key.length}`, IP: credential.fields.address ?? "" };
      },
      async waitUntilReady() {
        return { ready: true };
      },
      async runScript() {
        return { exitCode: 0, output: "", truncated: false };
      },
      async destroy() {},
    }),
  }),
};
