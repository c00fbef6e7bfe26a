import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateRouteCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteKeyPairCommand,
  DescribeVpcsCommand,
  EC2Client,
  ModifySubnetAttributeCommand,
  ModifyVpcAttributeCommand,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { beforeEach, describe, expect, it } from "vitest";
import {
  BOOTSTRAP_TAG,
  type BootstrapDeps,
  ensureBootstrap,
  firewallPermissions,
} from "../../../../src/providers/aws/bootstrap.ts";
import { ProviderThrottledError } from "../../../../src/providers/aws/errors.ts";
import {
  createCalls,
  ec2,
  fakeNetwork,
  fakeTime,
  instance,
  memoryStore,
  REGION,
  request,
  resetMocks,
  ssm,
  testProvider,
  withCredential,
} from "./support.ts";

beforeEach(() => {
  resetMocks();
});

function target() {
  return {
    team: "acme",
    credential: "default",
    region: REGION,
    ec2: new EC2Client({ region: REGION }),
    ssm: new SSMClient({ region: REGION }),
  };
}

function deps(
  store = memoryStore(),
  owner = "task-1",
): BootstrapDeps & { store: ReturnType<typeof memoryStore> } {
  const clock = fakeTime();
  return { store, leases: store, owner, now: clock.now, sleep: clock.sleep };
}

describe("aws bootstrap", () => {
  it("creates the seed's list once, tagged, with the default route and public addresses, and records the ids", async () => {
    const net = fakeNetwork();
    const d = deps();
    const resources = await ensureBootstrap(d, target());
    expect(resources).toEqual({
      vpcId: "vpc-1",
      subnetId: "subnet-2",
      internetGatewayId: "igw-3",
      routeTableId: "rtb-4",
      securityGroupId: "sg-6",
      keyName: "teamstack-default",
    });
    const tag = { Key: BOOTSTRAP_TAG, Value: `default/${REGION}` };
    expect(ec2.commandCalls(CreateVpcCommand)[0]?.args[0].input).toEqual({
      CidrBlock: "10.77.0.0/16",
      TagSpecifications: [{ ResourceType: "vpc", Tags: [tag, { Key: "Name", Value: "teamstack-default" }] }],
    });
    expect(ec2.commandCalls(ModifyVpcAttributeCommand)[0]?.args[0].input).toEqual({
      VpcId: "vpc-1",
      EnableDnsHostnames: { Value: true },
    });
    expect(ec2.commandCalls(CreateSubnetCommand)[0]?.args[0].input).toMatchObject({ VpcId: "vpc-1" });
    expect(ec2.commandCalls(ModifySubnetAttributeCommand)[0]?.args[0].input).toEqual({
      SubnetId: "subnet-2",
      MapPublicIpOnLaunch: { Value: true },
    });
    expect(ec2.commandCalls(CreateRouteCommand)[0]?.args[0].input).toEqual({
      RouteTableId: "rtb-4",
      DestinationCidrBlock: "0.0.0.0/0",
      GatewayId: "igw-3",
    });
    expect(net.gateways[0]?.Attachments).toEqual([{ VpcId: "vpc-1", State: "attached" }]);
    expect(net.tables[0]?.Associations).toEqual([{ SubnetId: "subnet-2" }]);
    // The base group lets the credential's servers reach each other, and opens nothing else.
    expect(ec2.commandCalls(CreateSecurityGroupCommand)[0]?.args[0].input).toMatchObject({
      GroupName: "teamstack-default",
      VpcId: "vpc-1",
    });
    expect(ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)[0]?.args[0].input).toEqual({
      GroupId: "sg-6",
      IpPermissions: [
        {
          IpProtocol: "-1",
          UserIdGroupPairs: [{ GroupId: "sg-6", Description: "teamstack servers of this credential" }],
        },
      ],
    });
    // The private key goes to the team's own account, nowhere else.
    expect(ssm.commandCalls(PutParameterCommand)[0]?.args[0].input).toMatchObject({
      Name: "/teamstack/key-pairs/teamstack-default",
      Type: "SecureString",
    });
    expect(d.store.bootstraps.get(`acme|default|${REGION}`)).toMatchObject({ status: "READY", resources });
  });

  it("creates nothing the second time: from the record, or, with the record lost, found by tags", async () => {
    fakeNetwork();
    const first = await ensureBootstrap(deps(), target());
    const made = createCalls();
    expect(made).toBe(13);

    // Same store: the record answers, EC2 is not even asked.
    const d = deps();
    await ensureBootstrap(d, target());
    ec2.resetHistory();
    ssm.resetHistory();
    expect(await ensureBootstrap(d, target())).toEqual(first);
    expect(ec2.calls()).toHaveLength(0);

    // A fresh store (the record lost): everything is found by its tag or name, nothing made.
    const again = await ensureBootstrap(deps(), target());
    expect(again).toEqual(first);
    expect(createCalls()).toBe(0);
    expect(ec2.commandCalls(DescribeVpcsCommand)[0]?.args[0].input).toEqual({
      Filters: [{ Name: `tag:${BOOTSTRAP_TAG}`, Values: [`default/${REGION}`] }],
    });
  });

  it("makes only what is missing when a bootstrap died half-way", async () => {
    const net = fakeNetwork();
    await ensureBootstrap(deps(), target());
    net.tables[0]?.Routes?.pop();
    net.keys.length = 0;
    ec2.resetHistory();
    ssm.resetHistory();
    await ensureBootstrap(deps(), target());
    expect(ec2.commandCalls(CreateRouteCommand)).toHaveLength(1);
    expect(createCalls()).toBe(3);
  });

  it("never keeps a key pair whose private key was not stored: PutParameter failing after CreateKeyPair deletes it, and the next bootstrap converges", async () => {
    const net = fakeNetwork();
    const d = deps();
    const denied = Object.assign(new Error("User is not authorized to perform: ssm:PutParameter"), {
      name: "AccessDeniedException",
    });
    ssm.on(PutParameterCommand).rejectsOnce(denied);
    const err = await ensureBootstrap(d, target()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/SSM PutParameter \/teamstack\/key-pairs\/teamstack-default/);
    // The key pair made a moment ago is gone again: none exists without its private key.
    expect(ec2.commandCalls(CreateKeyPairCommand)).toHaveLength(1);
    expect(ec2.commandCalls(DeleteKeyPairCommand)[0]?.args[0].input).toEqual({
      KeyName: "teamstack-default",
    });
    expect(net.keys).toEqual([]);
    expect(net.parameters.size).toBe(0);
    expect(d.store.bootstraps.get(`acme|default|${REGION}`)?.status).toBe("CREATING");

    // The next bootstrap makes a key pair again, stores its private key, and is READY.
    ssm.on(PutParameterCommand).callsFake((i: { Name: string; Value: string }) => {
      net.parameters.set(i.Name, i.Value);
      return { Version: 1 };
    });
    const resources = await ensureBootstrap(d, target());
    expect(resources.keyName).toBe("teamstack-default");
    expect(net.keys.map((k) => k.KeyName)).toEqual(["teamstack-default"]);
    expect(net.parameters.get("/teamstack/key-pairs/teamstack-default")).toBe(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-2\n",
    );
    expect(d.store.bootstraps.get(`acme|default|${REGION}`)).toMatchObject({ status: "READY", resources });
  });

  it("makes the key pair again when its private key is missing (a bootstrap died between the two calls), and retries a throttled PutParameter", async () => {
    const net = fakeNetwork();
    const d = deps();
    // The first bootstrap dies after CreateKeyPair: PutParameter and the clean-up both fail.
    ssm.on(PutParameterCommand).rejects(Object.assign(new Error("boom"), { name: "InternalServerError" }));
    ec2.on(DeleteKeyPairCommand).rejectsOnce(Object.assign(new Error("boom"), { name: "InternalError" }));
    await expect(ensureBootstrap(d, target())).rejects.toThrow();
    expect(net.keys.map((k) => k.KeyName)).toEqual(["teamstack-default"]);
    expect(net.parameters.size).toBe(0);

    // The next finds the key pair by its tag, sees no private key for it, and makes it again.
    ec2.on(DeleteKeyPairCommand).callsFake((i: { KeyName: string }) => {
      net.keys.splice(
        net.keys.findIndex((k) => k.KeyName === i.KeyName),
        1,
      );
      return {};
    });
    let puts = 0;
    ssm.on(PutParameterCommand).callsFake((i: { Name: string; Value: string }) => {
      if (++puts === 1) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      net.parameters.set(i.Name, i.Value);
      return { Version: 1 };
    });
    const resources = await ensureBootstrap(d, target());
    expect(ec2.commandCalls(CreateKeyPairCommand)).toHaveLength(2);
    expect(net.keys.map((k) => k.KeyName)).toEqual(["teamstack-default"]);
    // The stored private key is the second key pair's, the one that exists.
    expect(net.parameters.get("/teamstack/key-pairs/teamstack-default")).toBe(
      "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-2\n",
    );
    expect(puts).toBe(2);
    expect(resources.keyName).toBe("teamstack-default");

    // And a third finds both and makes nothing.
    ec2.resetHistory();
    ssm.resetHistory();
    d.store.bootstraps.clear();
    await ensureBootstrap(d, target());
    expect(createCalls()).toBe(0);
    expect(ec2.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it("lets one task bootstrap at a time: another gets ProviderThrottledError until the record is READY", async () => {
    fakeNetwork();
    const store = memoryStore();
    await store.claimBootstrap("acme", "default", REGION, {
      owner: "task-1",
      until: "2030-01-01T00:05:00.000Z",
      now: "2030-01-01T00:00:00.000Z",
    });
    const err = await ensureBootstrap(deps(store, "task-2"), target()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderThrottledError);
    expect((err as Error).message).toMatch(/is being bootstrapped in eu-west-1 by another task/);
    expect(createCalls()).toBe(0);
    // The holder finishes; the other task then takes its record.
    const resources = await ensureBootstrap(deps(store, "task-1"), target());
    expect(await ensureBootstrap(deps(store, "task-2"), target())).toEqual(resources);
  });

  it("bootstraps again when RunInstances says a recorded resource is gone, then launches", async () => {
    const net = fakeNetwork();
    const store = memoryStore();
    withCredential(store);
    const { provider } = testProvider({ store });
    // The second launch finds the subnet gone (deleted outside teamstack; the record still names it).
    ec2
      .on(RunInstancesCommand)
      .resolvesOnce({ Instances: [instance()] })
      .rejectsOnce(Object.assign(new Error("no subnet"), { name: "InvalidSubnetID.NotFound" }))
      .resolves({ Instances: [instance()] });
    await provider.create(request());
    net.subnets.length = 0;
    await provider.create(request({ idempotencyToken: "st-0123456789abcdef.web.2" }));
    expect(ec2.commandCalls(CreateSubnetCommand)).toHaveLength(2);
    const subnets = ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.SubnetId);
    expect(subnets).toEqual(["subnet-2", "subnet-2", "subnet-7"]);
  });
});

describe("firewall rules", () => {
  it("opens the template's rules, and SSH only when public keys are given and no rule covers port 22", () => {
    expect(firewallPermissions([], false)).toEqual([]);
    expect(firewallPermissions([], true)).toEqual([
      {
        IpProtocol: "tcp",
        FromPort: 22,
        ToPort: 22,
        IpRanges: [{ CidrIp: "0.0.0.0/0", Description: "teamstack template firewall rule" }],
      },
    ]);
    const rules = firewallPermissions(
      [
        { port: 22, from: "10.0.0.0/8" },
        { port: "8000-8100", protocol: "udp" },
        { protocol: "icmp", port: 0 },
        { port: 22, from: "10.0.0.0/8" },
      ],
      true,
    );
    expect(rules.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.[0]?.CidrIp])).toEqual([
      ["tcp", 22, 22, "10.0.0.0/8"],
      ["udp", 8000, 8100, "0.0.0.0/0"],
      ["icmp", -1, -1, "0.0.0.0/0"],
    ]);
    expect(() => firewallPermissions([{ port: "9-1" }], false)).toThrow(/expected port 0-65535/);
  });
});
