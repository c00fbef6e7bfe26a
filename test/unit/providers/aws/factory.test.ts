import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import type { ServerSpec } from "../../../../src/core/template.ts";
import type { Store } from "../../../../src/ports/store.ts";
import { AwsCredentialError } from "../../../../src/providers/aws/errors.ts";
import { create, preflight } from "../../../../src/providers/aws/factory.ts";
import { ProviderRequestError } from "../../../../src/providers/errors.ts";
import { memoryStore, ROLE_CREDENTIAL, withCredential } from "./support.ts";

// The aws provider's module as the registry loads it: made over the host's store, and its
// preflight, which refuses servers whose credential the team has not registered.

const server = (name: string, options: Record<string, unknown> = {}): ServerSpec => ({
  name,
  provider: "aws",
  type: "t3.micro",
  userData: "",
  dependsOn: [],
  options,
});

describe("the aws provider's factory", () => {
  it("needs the host's store and its table, for the teams' credentials and its bootstrap leases", () => {
    expect(() => create({})).toThrow(ProviderRequestError);
    expect(() => create({ store: memoryStore() as unknown as Store })).toThrow(/bootstrap leases/);
    const table = { client: new DynamoDBClient({ region: "us-east-1" }), tableName: "t" };
    expect(create({ store: memoryStore() as unknown as Store, table }).name).toBe("aws");
  });

  it("passes a stack whose servers name registered credentials", async () => {
    const store = memoryStore();
    withCredential(store);
    await expect(
      preflight(
        { team: "acme", servers: [server("web"), server("db", { credential: "default" })] },
        {
          store: store as unknown as Store,
        },
      ),
    ).resolves.toBeUndefined();
  });

  it("names each missing credential and the servers that use it, before anything is created", async () => {
    const store = memoryStore();
    withCredential(store);
    const error = await preflight(
      {
        team: "acme",
        servers: [server("web", { credential: "ops" }), server("db", { credential: "ops" }), server("ok")],
      },
      { store: store as unknown as Store },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsCredentialError);
    expect((error as Error).message).toBe(
      "team `acme` has no aws credential `ops` (used by web, db): register the team's role under that name first (PUT /teams/acme/credentials/NAME)",
    );
    expect(ROLE_CREDENTIAL.name).toBe("default");
  });
});
