import { CreateVpcCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAwsProvider } from "../../../../src/providers/aws/aws-provider.ts";
import { CredentialSource } from "../../../../src/providers/aws/credentials.ts";
import { ProviderThrottledError } from "../../../../src/providers/aws/errors.ts";
import type { BootstrapLeases } from "../../../../src/providers/aws/leases.ts";
import { createDynamoBootstrapLeases } from "../../../../src/store/dynamo/bootstrap-leases.ts";
import { createDynamoStore, type DynamoStore } from "../../../../src/store/dynamo-store.ts";
import { createTable } from "../../../../src/store/table.ts";
import {
  createCalls,
  ec2,
  fakeNetwork,
  fakeTime,
  instance,
  REGION,
  ROLE_CREDENTIAL,
  request,
  resetMocks,
} from "../../../unit/providers/aws/support.ts";
import { startDynalite, type TestDynalite } from "../../store/dynalite.ts";

// Two task containers (two providers, one table) launch the first servers of a credential at
// once: the leases' claim lets one bootstrap; the other is told to retry (ProviderThrottledError,
// retried by the ASL) and then uses what the first recorded. Nothing is made twice.

let db: TestDynalite;
let store: DynamoStore;
let leases: BootstrapLeases;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, "aws-bootstrap");
  store = createDynamoStore({ client: db.client, tableName: "aws-bootstrap" });
  leases = createDynamoBootstrapLeases({ client: db.client, tableName: "aws-bootstrap" });
  await store.putCredential(ROLE_CREDENTIAL);
});
afterAll(async () => {
  await db?.close();
});
beforeEach(() => {
  resetMocks();
});

function container() {
  const clock = fakeTime();
  return createAwsProvider({
    leases,
    findCredential: (team, name) => store.getCredential(team, name),
    credentials: new CredentialSource({
      sts: new STSClient({ region: "us-east-1" }),
      secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    }),
    now: clock.now,
    sleep: clock.sleep,
  });
}

describe("the bootstrap over the real store", () => {
  it("is made once when two containers launch at the same time, and a third launch makes nothing", async () => {
    fakeNetwork({ createVpcDelayMs: 300 });
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance()] });
    const [a, b] = [container(), container()];
    const results = await Promise.allSettled([
      a.create(request({ server: "web", idempotencyToken: "st-x.web.1" })),
      b.create(request({ server: "db", idempotencyToken: "st-x.db.1" })),
    ]);
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toBeInstanceOf(ProviderThrottledError);
    // The ASL's retry of the refused launch.
    const retry = refused[0] === results[0] ? a : b;
    await retry.create(request({ server: "again", idempotencyToken: "st-x.again.1" }));
    expect(ec2.commandCalls(CreateVpcCommand)).toHaveLength(1);
    const made = createCalls();
    await container().create(request({ server: "third", idempotencyToken: "st-x.third.1" }));
    expect(createCalls()).toBe(made);
    expect(await leases.getBootstrap("acme", "default", REGION)).toMatchObject({
      status: "READY",
      resources: { vpcId: "vpc-1", subnetId: "subnet-2" },
    });
    expect(new Set(ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.SubnetId))).toEqual(
      new Set(["subnet-2"]),
    );
  });
});
