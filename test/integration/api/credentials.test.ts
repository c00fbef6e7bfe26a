import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { HOSTBOX } from "../../support/fixture-provider.ts";
import { startTestApi, type TestApi } from "./api-server.ts";

// The registry with one more provider that takes credentials with secret fields (the docker and
// ssh providers are built elsewhere): every route, schema and runtime reads the registry, so
// they all see it.
vi.mock("../../../src/providers/registry.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../src/providers/registry.ts")>();
  const { providerCatalog } = await import("../../../src/core/providers.ts");
  const { hostboxModule } = await import("../../support/fixture-provider.ts");
  const modules = [...original.PROVIDER_MODULES, hostboxModule];
  return { PROVIDER_MODULES: modules, PROVIDERS: providerCatalog(modules.map((m) => m.declaration)) };
});

const KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\ncanary-7f1e2d3c4b5a69788796a5b4\n-----END OPENSSH PRIVATE KEY-----\n";
const CA = "-----BEGIN CERTIFICATE-----\nca-canary-0a1b2c3d4e5f\n-----END CERTIFICATE-----\n";

let api: TestApi;
let admin: string;
let alice: string;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
});

afterAll(async () => {
  await api?.close();
});

const messageOf = (body: unknown) => (body as { message: string }).message;

/** Every file below a folder, read whole. */
function filesBelow(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesBelow(path));
    else if (entry.isFile() && statSync(path).size < 64 * 1024 * 1024)
      out.push({ path, bytes: readFileSync(path) });
  }
  return out;
}

describe("team credentials for any provider", () => {
  const body = {
    provider: HOSTBOX,
    address: "10.0.0.7",
    port: 2222,
    user: "deploy",
    privateKey: KEY,
    caCert: CA,
  };

  it("registers a credential, keeping its secret fields out of the record, the answer and every file", async () => {
    const res = await api.call("PUT", "/teams/acme/credentials/box", { token: admin, body });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      name: "box",
      provider: HOSTBOX,
      fields: ["address", "port", "user", "privateKey", "caCert"],
      values: { address: "10.0.0.7", port: "2222", user: "deploy" },
      secretFields: ["caCert", "privateKey"],
      updatedAt: expect.any(String),
    });
    expect(res.text).not.toContain("canary");
    const record = await api.engine.store.getCredential("acme", "box");
    expect(record).toMatchObject({
      kind: "fields",
      provider: HOSTBOX,
      secretFields: ["caCert", "privateKey"],
    });
    expect(JSON.stringify(record)).not.toContain("canary");
    const list = await api.call("GET", "/teams/acme/credentials", { token: admin });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain("canary");
    const { values: _, ...listed } = res.body as Record<string, unknown>;
    expect((list.body as { credentials: unknown[] }).credentials).toEqual([listed]);
    for (const file of filesBelow(api.engine.stateDir)) {
      expect(file.bytes.includes("canary"), file.path).toBe(false);
    }
  });

  it("hands the credential with its secret fields to the provider through ProviderHost.credentials", async () => {
    const made = await api.engine.providers.provider(HOSTBOX).create({
      stackId: "st-1",
      team: "acme",
      member: "alice",
      server: "web",
      type: "host",
      options: { credential: "box" },
      userData: "",
      idempotencyToken: "t-1",
    });
    expect(made).toEqual({ Id: `key-${KEY.length}`, IP: "10.0.0.7" });
  });

  it("keeps the secret fields where no template can name them: not among the team's secrets", async () => {
    // A webhook's `secret:` and every hook read team (or member) secrets by name: the credential's
    // fields are in a scope of their own.
    expect(await api.engine.secrets.get({ team: "acme" }, "privateKey")).toBeUndefined();
    expect(await api.engine.secrets.get({ team: "acme", member: "box" }, "privateKey")).toBeUndefined();
    const entries = await api.engine.secrets.list("acme");
    expect(entries.filter((e) => e.credential === "box").map((e) => e.name)).toEqual([
      "caCert",
      "privateKey",
    ]);
    expect(entries.filter((e) => e.credential === undefined && e.member === undefined)).toEqual([]);
  });

  it("refuses members: they can neither register nor list credentials", async () => {
    expect((await api.call("PUT", "/teams/acme/credentials/box", { token: alice, body })).status).toBe(403);
    expect((await api.call("GET", "/teams/acme/credentials", { token: alice })).status).toBe(403);
    expect((await api.call("DELETE", "/teams/acme/credentials/box", { token: alice })).status).toBe(403);
  });

  it("answers 400 naming the field and what was expected, never repeating a secret, and changes nothing", async () => {
    // The providers that take credentials, as the registry (with the fixture) lists them.
    const withCredentials = PROVIDERS.declarations
      .filter((d) => d.credentials !== undefined)
      .map((d) => d.name)
      .join(", ");
    expect(withCredentials).toContain(HOSTBOX);
    const before = await api.engine.store.getCredential("acme", "box");
    const cases: [object, string][] = [
      [{ ...body, user: undefined }, "field `user` is missing: a user name"],
      [{ ...body, port: 70_000 }, "field `port`: expected a whole number from 1 to 65535"],
      [
        { ...body, address: "not an address!" },
        "field `address` `not an address!`: expected a host name or IP address",
      ],
      [
        { ...body, privateKey: "not-a-key-canary" },
        "field `privateKey`: expected a private key (PEM or OpenSSH) (a secret field: its value is not shown)",
      ],
      [{ ...body, provider: "nosuch" }, `\`nosuch\` is not one of ${withCredentials}`],
      [{ ...body, provider: "sim" }, `\`sim\` is not one of ${withCredentials}`],
    ];
    for (const [given, message] of cases) {
      const res = await api.call("PUT", "/teams/acme/credentials/box", { token: admin, body: given });
      expect(res.status, message).toBe(400);
      expect(messageOf(res.body)).toContain(message);
      expect(res.text).not.toContain("canary");
    }
    const typed = await api.call("PUT", "/teams/acme/credentials/box", {
      token: admin,
      body: { ...body, privateKey: 42 },
    });
    expect(messageOf(typed.body)).toContain("privateKey: expected a string");
    const unknown = await api.call("PUT", "/teams/acme/credentials/box", {
      token: admin,
      body: { ...body, nope: "x" },
    });
    expect(unknown.status).toBe(400);
    expect(messageOf(unknown.body)).toContain("unknown field `nope`");
    expect(await api.engine.store.getCredential("acme", "box")).toEqual(before);
    expect(await api.engine.secrets.get({ team: "acme", credential: "box" }, "privateKey")).toBe(KEY);
  });

  it("takes a team's Docker host only over tcp://: a unix socket or ssh:// would be this machine's own access", async () => {
    for (const endpoint of ["unix:///var/run/docker.sock", "/var/run/docker.sock", "ssh://root@localhost"]) {
      const res = await api.call("PUT", "/teams/acme/credentials/engine", {
        token: admin,
        body: { provider: "docker", endpoint },
      });
      expect(res.status, endpoint).toBe(400);
      expect(messageOf(res.body)).toContain("field `endpoint`");
      expect(messageOf(res.body)).toContain("tcp://HOST:PORT");
    }
    expect(await api.engine.store.getCredential("acme", "engine")).toBeUndefined();
    const ok = await api.call("PUT", "/teams/acme/credentials/engine", {
      token: admin,
      body: { provider: "docker", endpoint: "tcp://docker.example.test:2376" },
    });
    expect(ok.status).toBe(200);
  });

  it("replaces a credential's secrets, removing the secret field it no longer has", async () => {
    const { caCert: _, ...rest } = body;
    const res = await api.call("PUT", "/teams/acme/credentials/box", {
      token: admin,
      body: { ...rest, privateKey: `${KEY}v2` },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ secretFields: ["privateKey"] });
    expect(await api.engine.secrets.exists({ team: "acme", credential: "box" }, "caCert")).toBe(false);
    const credential = await api.engine.providers.provider(HOSTBOX).create({
      stackId: "st-2",
      team: "acme",
      member: "alice",
      server: "web",
      type: "host",
      options: { credential: "box" },
      userData: "",
      idempotencyToken: "t-2",
    });
    expect(credential.Id).toBe(`key-${KEY.length + 2}`);
  });

  it("removes a credential with its secrets; a second removal answers 404", async () => {
    const res = await api.call("DELETE", "/teams/acme/credentials/box", { token: admin });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name: "box", removed: true });
    expect(await api.engine.store.getCredential("acme", "box")).toBeUndefined();
    expect(await api.engine.secrets.list("acme")).toEqual([]);
    expect((await api.call("DELETE", "/teams/acme/credentials/box", { token: admin })).status).toBe(404);
  });

  it("still takes an aws role without `provider`, as before", async () => {
    const role = {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-servers",
      externalId: "0123456789abcdef0123",
      region: "eu-west-1",
    };
    const res = await api.call("PUT", "/teams/acme/credentials/default", { token: admin, body: role });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      kind: "role",
      roleArn: role.roleArn,
      region: "eu-west-1",
      secretFields: ["externalId"],
    });
    expect(res.text).not.toContain(role.externalId);
    expect(await api.engine.store.getCredential("acme", "default")).toMatchObject({
      kind: "role",
      externalId: role.externalId,
    });
  });
});
