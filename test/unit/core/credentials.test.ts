import { describe, expect, it } from "vitest";
import {
  checkCredential,
  credentialProviders,
  defaultCredentialProvider,
} from "../../../src/core/credentials.ts";
import { providerCatalog } from "../../../src/core/providers.ts";
import { PROVIDER_MODULES } from "../../../src/providers/registry.ts";
import { HOSTBOX, hostboxDeclaration } from "../../support/fixture-provider.ts";

// The registry's aws (credentials by role) and sim (none), with the fixture: messages list exactly these.
const catalog = providerCatalog([
  ...PROVIDER_MODULES.map((m) => m.declaration).filter((d) => d.name === "aws" || d.name === "sim"),
  hostboxDeclaration,
]);
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-canary\n-----END OPENSSH PRIVATE KEY-----\n";

describe("checkCredential", () => {
  it("splits a body into non-secret fields and secret ones, as text", () => {
    const checked = checkCredential(catalog, {
      provider: HOSTBOX,
      address: "h.example",
      port: "2200",
      user: "ops",
      privateKey: KEY,
    });
    expect(checked).toEqual({
      ok: true,
      credential: {
        provider: hostboxDeclaration,
        fields: { address: "h.example", port: "2200", user: "ops" },
        secrets: { privateKey: KEY },
      },
    });
  });

  it("reads a body without `provider` as the role reference's provider", () => {
    const role = defaultCredentialProvider(catalog);
    expect(role?.credentials?.roleReference).toBe(true);
    const checked = checkCredential(catalog, {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-x",
      externalId: "0123456789abcdef0123",
      region: "eu-west-1",
    });
    expect(checked.ok && checked.credential.provider.name).toBe(role?.name);
  });

  it("reports every problem, naming the field and what was expected, and never a secret value", () => {
    const checked = checkCredential(catalog, {
      provider: HOSTBOX,
      address: "bad address",
      port: 0,
      privateKey: "secret-canary",
      extra: "x",
    });
    expect(checked.ok).toBe(false);
    const problems = checked.ok ? [] : checked.problems;
    expect(problems).toEqual([
      "field `extra`: provider `hostbox` has no such credential field; expected address, port, user, privateKey, caCert",
      "field `address` `bad address`: expected a host name or IP address",
      "field `port`: expected a whole number from 1 to 65535",
      "field `user` is missing: a user name (Who to log in as.)",
      "field `privateKey`: expected a private key (PEM or OpenSSH) (a secret field: its value is not shown)",
    ]);
    expect(problems.join("\n")).not.toContain("canary");
  });

  it("names the providers that take credentials when given one that does not, or none", () => {
    expect(credentialProviders(catalog)).toEqual(["aws", HOSTBOX]);
    expect(checkCredential(catalog, { provider: "sim" })).toEqual({
      ok: false,
      problems: ["provider `sim` takes no team credentials; providers that do: aws, hostbox"],
    });
    expect(checkCredential(catalog, { provider: "nope" })).toEqual({
      ok: false,
      problems: ["field `provider`: `nope` is not a provider; expected one of aws, hostbox"],
    });
    const noDefault = providerCatalog([hostboxDeclaration]);
    expect(checkCredential(noDefault, { address: "x" })).toEqual({
      ok: false,
      problems: ["field `provider` is missing: expected one of hostbox"],
    });
  });
});
