import { describe, expect, it } from "vitest";
import { providerInfo, providersInfo, providersText } from "../../../src/core/provider-info.ts";
import { providerCatalog } from "../../../src/core/providers.ts";
import { PROVIDER_MODULES, PROVIDERS } from "../../../src/providers/registry.ts";
import { HOSTBOX, hostboxDeclaration } from "../../support/fixture-provider.ts";

describe("providersInfo", () => {
  it("lists every provider of the registry, in its order", () => {
    expect(providersInfo(PROVIDERS).map((p) => p.name)).toEqual(PROVIDERS.names);
  });

  it("says what a provider supports and lacks, its options and its credential fields", () => {
    expect(providerInfo(hostboxDeclaration)).toEqual({
      name: HOSTBOX,
      aliases: [],
      summary: hostboxDeclaration.summary,
      runsIn: ["local-runtime"],
      verbs: { required: ["create", "waitUntilReady", "runScript", "destroy"], optional: [] },
      lacks: ["stop", "start", "shell"],
      options: [
        {
          name: "credential",
          kind: "string",
          expected: "a credential name",
          required: false,
          doc: "The team's hostbox credential (default `default`).",
        },
      ],
      sizes: "not mapped: a host is as large as it is",
      nativeTypeExample: "host",
      readiness: "watch",
      userDataLimit: null,
      credentials: {
        describe: "A host reached over a key.",
        fields: [
          {
            name: "address",
            secret: false,
            required: true,
            expected: "a host name or IP address",
            doc: "Where the host is.",
          },
          {
            name: "port",
            secret: false,
            required: false,
            expected: "a whole number from 1 to 65535",
            doc: "Its port (default 22).",
          },
          { name: "user", secret: false, required: true, expected: "a user name", doc: "Who to log in as." },
          {
            name: "privateKey",
            secret: true,
            required: true,
            expected: "a private key (PEM or OpenSSH)",
            doc: "The key to log in with.",
          },
          {
            name: "caCert",
            secret: true,
            required: false,
            expected: "a PEM certificate",
            doc: "A CA certificate.",
          },
        ],
      },
      simulator: false,
    });
  });

  it("prints a block per provider with its verbs, what it lacks and its credential fields", () => {
    const catalog = providerCatalog([...PROVIDER_MODULES.map((m) => m.declaration), hostboxDeclaration]);
    const text = providersText(providersInfo(catalog));
    const block = text.slice(text.indexOf(`${HOSTBOX}: `));
    expect(block).toMatch(
      /^ {2}verbs +create, waitUntilReady, runScript, destroy \(lacks stop, start, shell\)$/m,
    );
    expect(block).toContain("  credentials: A host reached over a key.\n");
    expect(block).toContain(
      "    privateKey  required, secret: a private key (PEM or OpenSSH). The key to log in with.\n",
    );
    expect(block).toContain(
      "    port        optional: a whole number from 1 to 65535. Its port (default 22).\n",
    );
    for (const name of PROVIDERS.names)
      expect(text).toMatch(new RegExp(`^${name}( \\(simulator\\))?: `, "m"));
  });
});
