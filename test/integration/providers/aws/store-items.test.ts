import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CredentialRecord } from "../../../../src/ports/store.ts";
import type { BootstrapLeases } from "../../../../src/providers/aws/leases.ts";
import { createDynamoBootstrapLeases } from "../../../../src/store/dynamo/bootstrap-leases.ts";
import type { DynamoStore } from "../../../../src/store/dynamo-store.ts";
import { InvalidStoreKeyError } from "../../../../src/store/errors.ts";
import { startTestStore, type TestDynalite } from "../../store/dynalite.ts";

const TABLE = "aws-items";
let db: TestDynalite;
let store: DynamoStore;
let leases: BootstrapLeases;

beforeAll(async () => {
  ({ db, store } = await startTestStore(TABLE));
  leases = createDynamoBootstrapLeases({ client: db.client, tableName: TABLE });
});
afterAll(async () => {
  await db?.close();
});

const role: CredentialRecord = {
  team: "acme",
  name: "default",
  kind: "role",
  roleArn: "arn:aws:iam::111122223333:role/teamstack",
  externalId: "ext-1",
  region: "eu-west-1",
  instanceProfile: "teamstack-instance",
  updatedAt: "2030-01-01T00:00:00Z",
};

describe("credential and bootstrap items in the table", () => {
  it("stores a credential reference under TEAM#t / CREDENTIAL#name, either kind, and nothing secret", async () => {
    const keys: CredentialRecord = {
      team: "acme",
      name: "legacy",
      kind: "keys",
      secretArn: "arn:aws:secretsmanager:eu-west-1:1:secret:k",
      region: "us-east-1",
      updatedAt: "2030-01-01T00:00:00Z",
    };
    await store.putCredential(role);
    await store.putCredential(keys);
    expect(await store.getCredential("acme", "default")).toEqual(role);
    expect(await store.getCredential("acme", "legacy")).toEqual(keys);
    expect(await store.getCredential("acme", "nope")).toBeUndefined();
    expect(await store.getCredential("other", "default")).toBeUndefined();
    const raw = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "TEAM#acme" }, sk: { S: "CREDENTIAL#default" } },
      }),
    );
    expect(raw.Item?.kind).toEqual({ S: "CREDENTIAL" });
    expect(raw.Item?.credentialKind).toEqual({ S: "role" });
    await expect(store.putCredential({ ...role, name: "a#b" })).rejects.toThrow(InvalidStoreKeyError);
  });

  it("grants a bootstrap claim to one owner at a time, again to its holder, and to another once the lease ran out", async () => {
    const claim = (owner: string, now: string, until: string, force?: boolean) =>
      leases.claimBootstrap("acme", "default", "eu-west-1", {
        owner,
        now,
        until,
        ...(force ? { force } : {}),
      });
    expect(await claim("a", "2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z")).toEqual({ claimed: true });
    const refused = await claim("b", "2030-01-01T00:01:00Z", "2030-01-01T00:06:00Z");
    expect(refused).toMatchObject({ claimed: false, record: { status: "CREATING", owner: "a" } });
    expect(await claim("a", "2030-01-01T00:02:00Z", "2030-01-01T00:07:00Z")).toEqual({ claimed: true });
    expect(await claim("b", "2030-01-01T00:08:00Z", "2030-01-01T00:13:00Z")).toEqual({ claimed: true });
    const raw = await db.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { pk: { S: "TEAM#acme" }, sk: { S: "BOOTSTRAP#default#eu-west-1" } },
      }),
    );
    expect(raw.Item?.owner).toEqual({ S: "b" });
  });

  it("records a READY bootstrap that no claim takes over, unless forced", async () => {
    const resources = {
      vpcId: "vpc-1",
      subnetId: "subnet-1",
      internetGatewayId: "igw-1",
      routeTableId: "rtb-1",
      securityGroupId: "sg-1",
      keyName: "teamstack-default",
    };
    await leases.putBootstrap({
      team: "acme",
      credential: "default",
      region: "us-west-2",
      status: "READY",
      resources,
      updatedAt: "2030-01-01T00:00:00Z",
    });
    expect(await leases.getBootstrap("acme", "default", "us-west-2")).toEqual({
      team: "acme",
      credential: "default",
      region: "us-west-2",
      status: "READY",
      resources,
      updatedAt: "2030-01-01T00:00:00Z",
    });
    const claim = { owner: "c", now: "2031-01-01T00:00:00Z", until: "2031-01-01T00:05:00Z" };
    expect(await leases.claimBootstrap("acme", "default", "us-west-2", claim)).toMatchObject({
      claimed: false,
      record: { status: "READY", resources },
    });
    expect(await leases.claimBootstrap("acme", "default", "us-west-2", { ...claim, force: true })).toEqual({
      claimed: true,
    });
    expect(await leases.getBootstrap("acme", "default", "us-west-2")).toMatchObject({
      status: "CREATING",
      owner: "c",
    });
    expect((await leases.getBootstrap("acme", "default", "us-west-2"))?.resources).toBeUndefined();
  });
});
