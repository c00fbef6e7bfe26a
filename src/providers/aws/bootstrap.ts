import { createHash } from "node:crypto";
import type {
  EC2Client,
  Filter,
  IpPermission,
  SecurityGroup,
  Tag,
  TagSpecification,
} from "@aws-sdk/client-ec2";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { ProviderRequestError } from "../errors.ts";
import { awsErrorCode, isNotFound, ProviderThrottledError, translateAwsError } from "./errors.ts";
import type { BootstrapLeases, BootstrapResources } from "./leases.ts";
import { loadEc2, loadSsm } from "./sdk.ts";

/**
 * The bootstrap: the shared network a credential's servers use in a region, the seed's list of
 * VPC, subnet, internet gateway, route table (with its default route), security group and key
 * pair. Found by their `teamstack:bootstrap` tag (or name) first and created only when missing, so
 * running it again creates nothing; the ids are recorded with the bootstrap leases (leases.ts), and a
 * claim there keeps two tasks from bootstrapping the same credential and region at once.
 */

export const BOOTSTRAP_TAG = "teamstack:bootstrap";
export const FIREWALL_TAG = "teamstack:firewall";
export const VPC_CIDR = "10.77.0.0/16";
export const SUBNET_CIDR = "10.77.0.0/20";
/** How long a claim holds before another task may take the bootstrap over. */
const LEASE_MS = 5 * 60_000;

export interface BootstrapTarget {
  readonly team: string;
  readonly credential: string;
  readonly region: string;
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
}

export interface BootstrapDeps {
  readonly leases: BootstrapLeases;
  /** Who claims: unique per process. */
  readonly owner: string;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** The tag value that marks a credential's bootstrap resources in a region. */
export function bootstrapTagValue(credential: string, region: string): string {
  return `${credential}/${region}`;
}

/** Names the bootstrap's security group and key pair (unique per VPC and region). */
export function bootstrapName(credential: string): string {
  return `teamstack-${credential}`;
}

/** The SSM parameter (in the team's account) holding the private key of the bootstrap key pair. */
export function keyPairParameter(keyName: string): string {
  return `/teamstack/key-pairs/${keyName}`;
}

/**
 * The bootstrap resources of a credential in a region: from the leases when recorded, else found or
 * made in the account and recorded. `verify` looks again in the account (a recorded resource was
 * reported missing).
 * @throws ProviderThrottledError while another task holds the bootstrap (the ASL retries).
 */
export async function ensureBootstrap(
  deps: BootstrapDeps,
  target: BootstrapTarget,
  options: { readonly verify?: boolean } = {},
): Promise<BootstrapResources> {
  const { team, credential, region } = target;
  const recorded = await deps.leases.getBootstrap(team, credential, region);
  if (recorded?.status === "READY" && recorded.resources && !options.verify) return recorded.resources;
  const now = deps.now();
  const claim = await deps.leases.claimBootstrap(team, credential, region, {
    owner: deps.owner,
    until: new Date(now + LEASE_MS).toISOString(),
    now: new Date(now).toISOString(),
    ...(options.verify ? { force: true } : {}),
  });
  if (!claim.claimed) {
    if (claim.record.status === "READY" && claim.record.resources) return claim.record.resources;
    throw new ProviderThrottledError(
      `credential \`${credential}\` is being bootstrapped in ${region} by another task (until ${claim.record.leaseUntil ?? "?"}); retry shortly`,
    );
  }
  const resources = await findOrCreate(deps, target);
  await deps.leases.putBootstrap({
    team,
    credential,
    region,
    status: "READY",
    resources,
    updatedAt: new Date(deps.now()).toISOString(),
  });
  return resources;
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw translateAwsError(err, what);
  }
}

/** Retries a call that names a resource made moments ago (EC2 is eventually consistent). */
async function eventually<T>(deps: BootstrapDeps, what: string, run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isNotFound(err) || attempt >= 4) throw translateAwsError(err, what);
      await deps.sleep(500 * 2 ** attempt);
    }
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new ProviderRequestError(`${what} answered without the id it made`);
  return value;
}

async function findOrCreate(deps: BootstrapDeps, target: BootstrapTarget): Promise<BootstrapResources> {
  const { ec2, credential, region } = target;
  const {
    AssociateRouteTableCommand,
    AttachInternetGatewayCommand,
    CreateInternetGatewayCommand,
    CreateRouteCommand,
    CreateRouteTableCommand,
    CreateSubnetCommand,
    CreateVpcCommand,
    DescribeInternetGatewaysCommand,
    DescribeRouteTablesCommand,
    DescribeSubnetsCommand,
    DescribeVpcsCommand,
    ModifySubnetAttributeCommand,
    ModifyVpcAttributeCommand,
    ReplaceRouteCommand,
  } = await loadEc2();
  const value = bootstrapTagValue(credential, region);
  const name = bootstrapName(credential);
  const byTag: Filter = { Name: `tag:${BOOTSTRAP_TAG}`, Values: [value] };
  const tags: Tag[] = [
    { Key: BOOTSTRAP_TAG, Value: value },
    { Key: "Name", Value: name },
  ];
  const spec = (type: TagSpecification["ResourceType"]): TagSpecification[] => [
    { ResourceType: type, Tags: tags },
  ];
  const at = (op: string) => `EC2 ${op} (bootstrap of credential \`${credential}\` in ${region})`;

  // VPC, with DNS hostnames so instances get names (the Hostname artifact).
  const vpcs = await call(at("DescribeVpcs"), () => ec2.send(new DescribeVpcsCommand({ Filters: [byTag] })));
  let vpcId = vpcs.Vpcs?.[0]?.VpcId;
  if (!vpcId) {
    const made = await call(at("CreateVpc"), () =>
      ec2.send(new CreateVpcCommand({ CidrBlock: VPC_CIDR, TagSpecifications: spec("vpc") })),
    );
    const id = required(made.Vpc?.VpcId, at("CreateVpc"));
    vpcId = id;
    await eventually(deps, at("ModifyVpcAttribute"), () =>
      ec2.send(new ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } })),
    );
  }
  const inVpc: Filter = { Name: "vpc-id", Values: [vpcId] };
  const vpc = vpcId;

  // Subnet: public (instances get a public address, so they can call back and be reached).
  const subnets = await call(at("DescribeSubnets"), () =>
    ec2.send(new DescribeSubnetsCommand({ Filters: [byTag, inVpc] })),
  );
  let subnetId = subnets.Subnets?.[0]?.SubnetId;
  if (!subnetId) {
    const made = await eventually(deps, at("CreateSubnet"), () =>
      ec2.send(
        new CreateSubnetCommand({ VpcId: vpc, CidrBlock: SUBNET_CIDR, TagSpecifications: spec("subnet") }),
      ),
    );
    const id = required(made.Subnet?.SubnetId, at("CreateSubnet"));
    subnetId = id;
    await eventually(deps, at("ModifySubnetAttribute"), () =>
      ec2.send(new ModifySubnetAttributeCommand({ SubnetId: id, MapPublicIpOnLaunch: { Value: true } })),
    );
  }
  const subnet = subnetId;

  // Internet gateway, attached to the VPC.
  const gateways = await call(at("DescribeInternetGateways"), () =>
    ec2.send(new DescribeInternetGatewaysCommand({ Filters: [byTag] })),
  );
  let gateway = gateways.InternetGateways?.[0];
  if (!gateway) {
    const made = await call(at("CreateInternetGateway"), () =>
      ec2.send(new CreateInternetGatewayCommand({ TagSpecifications: spec("internet-gateway") })),
    );
    gateway = required(made.InternetGateway, at("CreateInternetGateway"));
  }
  const internetGatewayId = required(gateway.InternetGatewayId, at("CreateInternetGateway"));
  if (!gateway.Attachments?.some((a) => a.VpcId === vpc)) {
    await eventually(deps, at("AttachInternetGateway"), () =>
      ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: internetGatewayId, VpcId: vpc })),
    );
  }

  // Route table with the default route through the gateway, associated with the subnet.
  const tables = await call(at("DescribeRouteTables"), () =>
    ec2.send(new DescribeRouteTablesCommand({ Filters: [byTag, inVpc] })),
  );
  let table = tables.RouteTables?.[0];
  if (!table) {
    const made = await eventually(deps, at("CreateRouteTable"), () =>
      ec2.send(new CreateRouteTableCommand({ VpcId: vpc, TagSpecifications: spec("route-table") })),
    );
    table = required(made.RouteTable, at("CreateRouteTable"));
  }
  const routeTableId = required(table.RouteTableId, at("CreateRouteTable"));
  const route = table.Routes?.find((r) => r.DestinationCidrBlock === "0.0.0.0/0");
  if (route?.GatewayId !== internetGatewayId) {
    const input = {
      RouteTableId: routeTableId,
      DestinationCidrBlock: "0.0.0.0/0",
      GatewayId: internetGatewayId,
    };
    await eventually(deps, at(route ? "ReplaceRoute" : "CreateRoute"), () =>
      ec2.send(route ? new ReplaceRouteCommand(input) : new CreateRouteCommand(input)),
    );
  }
  if (!table.Associations?.some((a) => a.SubnetId === subnet)) {
    await eventually(deps, at("AssociateRouteTable"), () =>
      ec2.send(new AssociateRouteTableCommand({ RouteTableId: routeTableId, SubnetId: subnet })),
    );
  }

  // Security group: the servers of this credential reach each other ($servers.db.IP:3306); the
  // template's firewall rules go in groups of their own (ensureFirewallGroup).
  const securityGroupId = await ensureGroup(deps, target, vpc, name, spec("security-group"), (id) => [
    {
      IpProtocol: "-1",
      UserIdGroupPairs: [{ GroupId: id, Description: "teamstack servers of this credential" }],
    },
  ]);

  // Key pair; its private key goes to the team's own account (SSM SecureString), nowhere else.
  const keyName = await ensureKeyPair(deps, target, name, byTag, spec("key-pair"));
  return { vpcId: vpc, subnetId: subnet, internetGatewayId, routeTableId, securityGroupId, keyName };
}

/** Tries at storing a new key pair's private half before giving the key pair up. */
const KEY_STORE_TRIES = 4;

/**
 * The bootstrap's key pair, whose private half is stored in the team's account (SSM SecureString
 * `keyPairParameter(name)`): found by its tag when its private half is stored; made again when it
 * is not (a bootstrap died between CreateKeyPair and PutParameter, or PutParameter failed), since
 * EC2 gives the private half only once, at creation. A new key pair whose private half cannot be
 * stored is deleted again before the error goes up, so that the next bootstrap makes a fresh one. A
 * key pair of that name made outside teamstack (untagged) is used as it is.
 * @returns the key pair's name.
 */
async function ensureKeyPair(
  deps: BootstrapDeps,
  target: BootstrapTarget,
  name: string,
  byTag: Filter,
  tagSpecifications: TagSpecification[],
): Promise<string> {
  const { ec2, ssm, credential, region } = target;
  const { CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand } = await loadEc2();
  const { GetParameterCommand, PutParameterCommand } = await loadSsm();
  const at = (op: string) => `EC2 ${op} (key pair ${name} of credential \`${credential}\` in ${region})`;
  const parameter = keyPairParameter(name);
  const stored = async (): Promise<boolean> => {
    try {
      // The value stays encrypted: only whether it exists matters here.
      await ssm.send(new GetParameterCommand({ Name: parameter, WithDecryption: false }));
      return true;
    } catch (err) {
      if (awsErrorCode(err).code === "ParameterNotFound") return false;
      throw translateAwsError(err, `SSM GetParameter ${parameter} in ${region}`);
    }
  };
  const remove = (keyName: string) =>
    eventually(deps, at("DeleteKeyPair"), () => ec2.send(new DeleteKeyPairCommand({ KeyName: keyName })));

  const keys = await call(at("DescribeKeyPairs"), () =>
    ec2.send(new DescribeKeyPairsCommand({ Filters: [byTag] })),
  );
  const found = keys.KeyPairs?.[0]?.KeyName;
  if (found) {
    if (await stored()) return found;
    // Its private half was lost: nobody can use this key pair. Make it again.
    await remove(found);
  }
  let made: { KeyMaterial?: string | undefined };
  try {
    made = await ec2.send(
      new CreateKeyPairCommand({ KeyName: name, KeyType: "ed25519", TagSpecifications: tagSpecifications }),
    );
  } catch (err) {
    // A key pair of that name made outside teamstack: use it as it is.
    if (awsErrorCode(err).code === "InvalidKeyPair.Duplicate") return name;
    throw translateAwsError(err, at("CreateKeyPair"));
  }
  const material = made.KeyMaterial;
  if (material === undefined) {
    await remove(name);
    throw new ProviderRequestError(`${at("CreateKeyPair")} answered without the private key`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await ssm.send(
        new PutParameterCommand({
          Name: parameter,
          Type: "SecureString",
          Value: material,
          Overwrite: true,
          Description: `Private key of the EC2 key pair ${name} that teamstack servers get`,
        }),
      );
      return name;
    } catch (err) {
      const error = translateAwsError(err, `SSM PutParameter ${parameter} in ${region}`);
      if (attempt < KEY_STORE_TRIES && error instanceof ProviderThrottledError) {
        await deps.sleep(500 * 2 ** attempt);
        continue;
      }
      // Unstored, the private half is lost with this process: the key pair goes too.
      await remove(name).catch(() => undefined);
      throw error;
    }
  }
}

/** A security group found by name in the VPC, or made with `ingress`; returns its id. */
async function ensureGroup(
  deps: BootstrapDeps,
  target: BootstrapTarget,
  vpcId: string,
  groupName: string,
  tagSpecifications: TagSpecification[],
  ingress: (groupId: string) => IpPermission[],
): Promise<string> {
  const { ec2, credential, region } = target;
  const { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeSecurityGroupsCommand } =
    await loadEc2();
  const at = (op: string) =>
    `EC2 ${op} (security group ${groupName} of credential \`${credential}\` in ${region})`;
  const find = async (): Promise<SecurityGroup | undefined> => {
    const out = await call(at("DescribeSecurityGroups"), () =>
      ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: "vpc-id", Values: [vpcId] },
            { Name: "group-name", Values: [groupName] },
          ],
        }),
      ),
    );
    return out.SecurityGroups?.[0];
  };
  let group = await find();
  if (!group) {
    try {
      const made = await eventually(deps, at("CreateSecurityGroup"), () =>
        ec2.send(
          new CreateSecurityGroupCommand({
            GroupName: groupName,
            Description: `teamstack servers of credential ${credential}`,
            VpcId: vpcId,
            TagSpecifications: tagSpecifications,
          }),
        ),
      );
      group = { GroupId: required(made.GroupId, at("CreateSecurityGroup")), IpPermissions: [] };
    } catch (err) {
      // Another task made it a moment ago.
      if (awsErrorCode(err).code !== "InvalidGroup.Duplicate") throw err;
      group = required(await find(), at("DescribeSecurityGroups"));
    }
  }
  const groupId = required(group.GroupId, at("CreateSecurityGroup"));
  const missing = ingress(groupId).filter(
    (p) => !(group.IpPermissions ?? []).some((q) => samePermission(p, q)),
  );
  if (missing.length > 0) {
    try {
      await eventually(deps, at("AuthorizeSecurityGroupIngress"), () =>
        ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: missing })),
      );
    } catch (err) {
      if (awsErrorCode(err).code !== "InvalidPermission.Duplicate") throw err;
    }
  }
  return groupId;
}

function samePermission(a: IpPermission, b: IpPermission): boolean {
  const ranges = (p: IpPermission) =>
    [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.UserIdGroupPairs ?? []).map((g) => g.GroupId)].sort();
  return (
    a.IpProtocol === b.IpProtocol &&
    (a.FromPort ?? null) === (b.FromPort ?? null) &&
    (a.ToPort ?? null) === (b.ToPort ?? null) &&
    ranges(a).every((r) => ranges(b).includes(r))
  );
}

/** A firewall rule of a template (`options.firewall`), as validation leaves it. */
export interface FirewallRule {
  readonly port?: number | string;
  readonly protocol?: string;
  readonly from?: string;
}

/**
 * The inbound permissions of a server: its firewall rules, and SSH (22/tcp from anywhere) when it
 * has public keys and no rule of its own for port 22.
 * @throws ProviderRequestError for a rule validation would not have let through.
 */
export function firewallPermissions(rules: readonly FirewallRule[], ssh: boolean): IpPermission[] {
  const out = new Map<string, IpPermission>();
  const add = (protocol: string, from: number | undefined, to: number | undefined, cidr: string) => {
    const key = `${protocol}|${from}|${to}|${cidr}`;
    out.set(key, {
      IpProtocol: protocol,
      ...(from !== undefined ? { FromPort: from, ToPort: to } : {}),
      IpRanges: [{ CidrIp: cidr, Description: "teamstack template firewall rule" }],
    });
  };
  let port22 = false;
  for (const rule of rules) {
    const protocol = rule.protocol ?? "tcp";
    const cidr = rule.from ?? "0.0.0.0/0";
    if (protocol === "all") {
      add("-1", undefined, undefined, cidr);
      port22 = true;
      continue;
    }
    if (protocol === "icmp") {
      add("icmp", -1, -1, cidr);
      continue;
    }
    const range = portRange(rule.port);
    if (!range || (protocol !== "tcp" && protocol !== "udp")) {
      throw new ProviderRequestError(
        `firewall rule ${JSON.stringify(rule)}: expected port 0-65535 (or a range such as 8000-8100), protocol tcp, udp, icmp or all`,
      );
    }
    if (protocol === "tcp" && range[0] <= 22 && range[1] >= 22) port22 = true;
    add(protocol, range[0], range[1], cidr);
  }
  if (ssh && !port22) add("tcp", 22, 22, "0.0.0.0/0");
  return [...out.values()];
}

function portRange(port: number | string | undefined): [number, number] | undefined {
  if (typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535) return [port, port];
  const m = typeof port === "string" ? /^(\d{1,5})-(\d{1,5})$/.exec(port) : null;
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a <= b && b <= 65535 ? [a, b] : undefined;
}

/**
 * The security group holding a set of inbound permissions: one per distinct set in the VPC, named
 * after the set's hash and shared by every server that asks for the same rules, so it is made once
 * and destroy leaves it (another server may use it).
 */
export async function ensureFirewallGroup(
  deps: BootstrapDeps,
  target: BootstrapTarget,
  vpcId: string,
  permissions: readonly IpPermission[],
): Promise<string> {
  const canonical = permissions
    .map((p) => `${p.IpProtocol}|${p.FromPort ?? ""}|${p.ToPort ?? ""}|${p.IpRanges?.[0]?.CidrIp ?? ""}`)
    .sort()
    .join(",");
  const hash = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
  const tags: Tag[] = [
    { Key: BOOTSTRAP_TAG, Value: bootstrapTagValue(target.credential, target.region) },
    { Key: FIREWALL_TAG, Value: hash },
    { Key: "Name", Value: `teamstack-fw-${hash}` },
  ];
  return ensureGroup(
    deps,
    target,
    vpcId,
    `teamstack-fw-${hash}`,
    [{ ResourceType: "security-group", Tags: tags }],
    () => [...permissions],
  );
}
