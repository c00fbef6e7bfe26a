import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateInternetGatewayCommand,
  CreateKeyPairCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteKeyPairCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeKeyPairsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Filter,
  type Instance,
  type InternetGateway,
  type IpPermission,
  ModifySubnetAttributeCommand,
  ModifyVpcAttributeCommand,
  type RouteTable,
  type Tag,
  type TagSpecification,
} from "@aws-sdk/client-ec2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import type { CreateServerRequest, Provider } from "../../../../src/ports/provider.ts";
import type { CredentialRecord, Store } from "../../../../src/ports/store.ts";
import { type AwsProviderOptions, createAwsProvider } from "../../../../src/providers/aws/aws-provider.ts";
import type { ClientTarget } from "../../../../src/providers/aws/clients.ts";
import { CredentialSource } from "../../../../src/providers/aws/credentials.ts";
import type { BootstrapLeases, BootstrapRecord } from "../../../../src/providers/aws/leases.ts";

/** Mocks of every AWS client the provider uses; reset before each test by `resetMocks`. */
export const ec2 = mockClient(EC2Client);
export const ssm = mockClient(SSMClient);
export const sts = mockClient(STSClient);
export const secretsManager = mockClient(SecretsManagerClient);

export const REGION = "eu-west-1";
export const ROLE_ARN = "arn:aws:iam::111122223333:role/teamstack";
export const EXTERNAL_ID = "ext-7f3a";
export const SECRET = Buffer.from("0123456789abcdef0123456789abcdef");
export const CALLBACK_BASE = "https://api.example.test";
export const UBUNTU_X86 = "ami-0abc1234def567890";
export const UBUNTU_ARM = "ami-0fed9876cba543210";

export const SESSION = {
  AccessKeyId: "ASIASESSIONKEY",
  SecretAccessKey: "session-secret",
  SessionToken: "session-token",
  Expiration: new Date("2030-01-01T01:00:00Z"),
};

export const ROLE_CREDENTIAL: CredentialRecord = {
  team: "acme",
  name: "default",
  kind: "role",
  roleArn: ROLE_ARN,
  externalId: EXTERNAL_ID,
  region: REGION,
  instanceProfile: "teamstack-instance",
  updatedAt: "2030-01-01T00:00:00Z",
};

export const BOOTSTRAPPED = {
  vpcId: "vpc-1",
  subnetId: "subnet-1",
  internetGatewayId: "igw-1",
  routeTableId: "rtb-1",
  securityGroupId: "sg-base",
  keyName: "teamstack-default",
};

type MemoryStore = Pick<Store, "getCredential"> &
  BootstrapLeases & {
    readonly credentials: Map<string, CredentialRecord>;
    readonly bootstraps: Map<string, BootstrapRecord>;
  };

/**
 * The team's credentials (found through `findCredential`) and the bootstrap leases the provider
 * uses, in memory, with the claim semantics of the DynamoDB leases.
 */
export function memoryStore(): MemoryStore {
  const credentials = new Map<string, CredentialRecord>();
  const bootstraps = new Map<string, BootstrapRecord>();
  const bkey = (t: string, c: string, r: string) => `${t}|${c}|${r}`;
  return {
    credentials,
    bootstraps,
    async getCredential(team, name) {
      return credentials.get(`${team}|${name}`);
    },
    async getBootstrap(team, credential, region) {
      return bootstraps.get(bkey(team, credential, region));
    },
    async claimBootstrap(team, credential, region, claim) {
      const current = bootstraps.get(bkey(team, credential, region));
      const free =
        !current ||
        current.owner === claim.owner ||
        (current.leaseUntil !== undefined && current.leaseUntil < claim.now) ||
        (claim.force === true && current.status === "READY");
      if (!free) return { claimed: false, record: current };
      bootstraps.set(bkey(team, credential, region), {
        team,
        credential,
        region,
        status: "CREATING",
        owner: claim.owner,
        leaseUntil: claim.until,
        updatedAt: claim.now,
      });
      return { claimed: true };
    },
    async putBootstrap(record) {
      bootstraps.set(bkey(record.team, record.credential, record.region), record);
    },
  };
}

export function withCredential(store: MemoryStore, credential: CredentialRecord = ROLE_CREDENTIAL): void {
  store.credentials.set(`${credential.team}|${credential.name}`, credential);
}

export function withBootstrap(store: MemoryStore, region = REGION): void {
  store.bootstraps.set(`acme|default|${region}`, {
    team: "acme",
    credential: "default",
    region,
    status: "READY",
    resources: BOOTSTRAPPED,
    updatedAt: "2030-01-01T00:00:00Z",
  });
}

export function request(overrides: Partial<CreateServerRequest> = {}): CreateServerRequest {
  return {
    stackId: "st-0123456789abcdef",
    team: "acme",
    member: "ada",
    server: "web",
    type: "t3.micro",
    options: {},
    userData: "apt-get install -y nginx\n",
    idempotencyToken: "st-0123456789abcdef.web.1",
    ...overrides,
  };
}

/** A clock that sleeping advances: no test waits for real. */
export function fakeTime(start = Date.parse("2030-01-01T00:00:00Z")) {
  const time = { now: start, sleeps: [] as number[] };
  return {
    time,
    now: () => time.now,
    sleep: async (ms: number) => {
      time.sleeps.push(ms);
      time.now += ms;
    },
  };
}

export interface TestProvider {
  readonly provider: Provider;
  readonly store: MemoryStore;
  readonly targets: ClientTarget[];
  readonly time: { now: number; sleeps: number[] };
}

/** The provider over the mocked clients, a memory store with the team's role, and a fake clock. */
export function testProvider(
  options: Partial<AwsProviderOptions> & { store?: MemoryStore } = {},
): TestProvider {
  const store = options.store ?? memoryStore();
  if (!options.store) {
    withCredential(store);
    withBootstrap(store);
  }
  const clock = fakeTime();
  const targets: ClientTarget[] = [];
  const provider = createAwsProvider({
    leases: store,
    findCredential: (team, name) => store.getCredential(team, name),
    credentials: new CredentialSource({
      sts: new STSClient({ region: "us-east-1" }),
      secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
      now: clock.now,
    }),
    clients: (target) => {
      targets.push(target);
      const config = { region: target.region, credentials: target.credentials };
      return { ec2: new EC2Client(config), ssm: new SSMClient(config) };
    },
    callback: async () => ({ baseUrl: CALLBACK_BASE, secret: SECRET }),
    now: clock.now,
    sleep: clock.sleep,
    ...options,
  });
  return { provider, store, targets, time: clock.time };
}

/** Resets the mocks and answers the calls every create makes: STS, the image lookups, no earlier instance. */
export function resetMocks(): void {
  ec2.reset();
  ssm.reset();
  sts.reset();
  secretsManager.reset();
  sts.on(AssumeRoleCommand).resolves({ Credentials: SESSION });
  ssm
    .on(GetParameterCommand)
    .resolves({ Parameter: { Value: UBUNTU_X86 } })
    .on(GetParameterCommand, {
      Name: "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
    })
    .resolves({ Parameter: { Value: UBUNTU_ARM } });
  ec2.on(DescribeImagesCommand).callsFake((input: { ImageIds: string[] }) => {
    const id = input.ImageIds[0] as string;
    if (!id.startsWith("ami-0")) return { Images: [] };
    return {
      Images: [
        {
          ImageId: id,
          RootDeviceName: "/dev/sda1",
          Architecture: id === UBUNTU_ARM ? "arm64" : "x86_64",
          BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 8 } }],
        },
      ],
    };
  });
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
}

/** An instance as DescribeInstances and RunInstances answer it. */
export function instance(overrides: Partial<Instance> = {}): Instance {
  return {
    InstanceId: "i-0123456789abcdef0",
    InstanceType: "t3.micro",
    State: { Name: "running" },
    PrivateIpAddress: "10.77.0.10",
    PublicIpAddress: "203.0.113.10",
    PrivateDnsName: "ip-10-77-0-10.eu-west-1.compute.internal",
    PublicDnsName: "ec2-203-0-113-10.eu-west-1.compute.amazonaws.com",
    ...overrides,
  };
}

/**
 * A stateful EC2 network for bootstrap tests: what the create calls make, the describe calls find
 * (by tag, VPC and group name), so a second bootstrap sees the first one's resources.
 */
export function fakeNetwork(options: { readonly createVpcDelayMs?: number } = {}) {
  let n = 0;
  const next = (prefix: string) => `${prefix}-${++n}`;
  const vpcs: { VpcId: string; Tags: Tag[] }[] = [];
  const subnets: { SubnetId: string; VpcId: string; Tags: Tag[] }[] = [];
  const gateways: (InternetGateway & { Tags: Tag[] })[] = [];
  const tables: (RouteTable & { Tags: Tag[] })[] = [];
  const groups: {
    GroupId: string;
    GroupName: string;
    VpcId: string;
    IpPermissions: IpPermission[];
    Tags: Tag[];
  }[] = [];
  const keys: { KeyName: string; Tags: Tag[] }[] = [];
  /** SSM parameters of the account (the key pairs' private keys). */
  const parameters = new Map<string, string>();
  let keyPairsMade = 0;
  const tagsOf = (specs: TagSpecification[] | undefined) => specs?.[0]?.Tags ?? [];
  const matches = (
    item: { Tags?: Tag[] | undefined; VpcId?: string | undefined; GroupName?: string | undefined },
    filters: Filter[] = [],
  ) =>
    filters.every((f) => {
      const values = f.Values ?? [];
      if (f.Name?.startsWith("tag:")) {
        const key = f.Name.slice(4);
        return item.Tags?.some((t) => t.Key === key && values.includes(t.Value ?? ""));
      }
      if (f.Name === "vpc-id") return values.includes(item.VpcId ?? "");
      if (f.Name === "group-name") return values.includes(item.GroupName ?? "");
      return false;
    });
  ec2
    .on(DescribeVpcsCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({ Vpcs: vpcs.filter((v) => matches(v, i.Filters)) }))
    .on(CreateVpcCommand)
    .callsFake(async (i: { TagSpecifications?: TagSpecification[] }) => {
      // A slow call keeps a bootstrap in progress while another task tries its own.
      if (options.createVpcDelayMs)
        await new Promise((resolve) => setTimeout(resolve, options.createVpcDelayMs));
      const vpc = { VpcId: next("vpc"), Tags: tagsOf(i.TagSpecifications) };
      vpcs.push(vpc);
      return { Vpc: vpc };
    })
    .on(ModifyVpcAttributeCommand)
    .resolves({})
    .on(DescribeSubnetsCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({ Subnets: subnets.filter((s) => matches(s, i.Filters)) }))
    .on(CreateSubnetCommand)
    .callsFake((i: { VpcId: string; TagSpecifications?: TagSpecification[] }) => {
      const subnet = { SubnetId: next("subnet"), VpcId: i.VpcId, Tags: tagsOf(i.TagSpecifications) };
      subnets.push(subnet);
      return { Subnet: subnet };
    })
    .on(ModifySubnetAttributeCommand)
    .resolves({})
    .on(DescribeInternetGatewaysCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({
      InternetGateways: gateways.filter((g) => matches(g, i.Filters)),
    }))
    .on(CreateInternetGatewayCommand)
    .callsFake((i: { TagSpecifications?: TagSpecification[] }) => {
      const gateway = { InternetGatewayId: next("igw"), Attachments: [], Tags: tagsOf(i.TagSpecifications) };
      gateways.push(gateway);
      return { InternetGateway: gateway };
    })
    .on(AttachInternetGatewayCommand)
    .callsFake((i: { InternetGatewayId: string; VpcId: string }) => {
      const g = gateways.find((x) => x.InternetGatewayId === i.InternetGatewayId);
      g?.Attachments?.push({ VpcId: i.VpcId, State: "attached" });
      return {};
    })
    .on(DescribeRouteTablesCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({
      RouteTables: tables.filter((t) => matches(t, i.Filters)),
    }))
    .on(CreateRouteTableCommand)
    .callsFake((i: { VpcId: string; TagSpecifications?: TagSpecification[] }) => {
      const table = {
        RouteTableId: next("rtb"),
        VpcId: i.VpcId,
        Routes: [{ DestinationCidrBlock: "10.77.0.0/16", GatewayId: "local" }],
        Associations: [],
        Tags: tagsOf(i.TagSpecifications),
      };
      tables.push(table);
      return { RouteTable: table };
    })
    .on(CreateRouteCommand)
    .callsFake((i: { RouteTableId: string; DestinationCidrBlock: string; GatewayId: string }) => {
      tables
        .find((t) => t.RouteTableId === i.RouteTableId)
        ?.Routes?.push({ DestinationCidrBlock: i.DestinationCidrBlock, GatewayId: i.GatewayId });
      return { Return: true };
    })
    .on(AssociateRouteTableCommand)
    .callsFake((i: { RouteTableId: string; SubnetId: string }) => {
      tables.find((t) => t.RouteTableId === i.RouteTableId)?.Associations?.push({ SubnetId: i.SubnetId });
      return { AssociationId: next("rtbassoc") };
    })
    .on(DescribeSecurityGroupsCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({
      SecurityGroups: groups.filter((g) => matches(g, i.Filters)),
    }))
    .on(CreateSecurityGroupCommand)
    .callsFake((i: { GroupName: string; VpcId: string; TagSpecifications?: TagSpecification[] }) => {
      const group = {
        GroupId: next("sg"),
        GroupName: i.GroupName,
        VpcId: i.VpcId,
        IpPermissions: [],
        Tags: tagsOf(i.TagSpecifications),
      };
      groups.push(group);
      return { GroupId: group.GroupId };
    })
    .on(AuthorizeSecurityGroupIngressCommand)
    .callsFake((i: { GroupId: string; IpPermissions: IpPermission[] }) => {
      groups.find((g) => g.GroupId === i.GroupId)?.IpPermissions.push(...i.IpPermissions);
      return { Return: true };
    })
    .on(DescribeKeyPairsCommand)
    .callsFake((i: { Filters?: Filter[] }) => ({ KeyPairs: keys.filter((k) => matches(k, i.Filters)) }))
    .on(CreateKeyPairCommand)
    .callsFake((i: { KeyName: string; TagSpecifications?: TagSpecification[] }) => {
      if (keys.some((k) => k.KeyName === i.KeyName)) {
        throw Object.assign(new Error(`The keypair '${i.KeyName}' already exists.`), {
          name: "InvalidKeyPair.Duplicate",
        });
      }
      keys.push({ KeyName: i.KeyName, Tags: tagsOf(i.TagSpecifications) });
      return {
        KeyName: i.KeyName,
        KeyMaterial: `-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-${++keyPairsMade}\n`,
      };
    })
    .on(DeleteKeyPairCommand)
    .callsFake((i: { KeyName: string }) => {
      const at = keys.findIndex((k) => k.KeyName === i.KeyName);
      if (at >= 0) keys.splice(at, 1);
      return {};
    });
  ssm
    .on(PutParameterCommand)
    .callsFake((i: { Name: string; Value: string }) => {
      parameters.set(i.Name, i.Value);
      return { Version: 1 };
    })
    .on(GetParameterCommand, { Name: "/teamstack/key-pairs/teamstack-default" })
    .callsFake((i: { Name: string }) => {
      const value = parameters.get(i.Name);
      if (value === undefined) {
        throw Object.assign(new Error(`parameter ${i.Name} not found`), { name: "ParameterNotFound" });
      }
      return { Parameter: { Name: i.Name, Type: "SecureString", Value: "(encrypted)" } };
    });
  return { vpcs, subnets, gateways, tables, groups, keys, parameters };
}

/** Every EC2 and SSM command that creates or changes something in the account. */
export const CREATE_COMMANDS = [
  CreateVpcCommand,
  ModifyVpcAttributeCommand,
  CreateSubnetCommand,
  ModifySubnetAttributeCommand,
  CreateInternetGatewayCommand,
  AttachInternetGatewayCommand,
  CreateRouteTableCommand,
  CreateRouteCommand,
  AssociateRouteTableCommand,
  CreateSecurityGroupCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
] as const;

export function createCalls(): number {
  const calls = (c: (typeof CREATE_COMMANDS)[number]) =>
    ec2.commandCalls(c as unknown as typeof CreateVpcCommand).length;
  return CREATE_COMMANDS.reduce((sum, c) => sum + calls(c), 0) + ssm.commandCalls(PutParameterCommand).length;
}
