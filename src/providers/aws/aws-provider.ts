import { createHash, randomUUID } from "node:crypto";
import type {
  DescribeInstancesCommandInput,
  Image,
  Instance,
  RunInstancesCommandInput,
  Tag,
} from "@aws-sdk/client-ec2";
import type { EC2InstanceConnectClient } from "@aws-sdk/client-ec2-instance-connect";
import type { GetCommandInvocationCommandOutput } from "@aws-sdk/client-ssm";
import { attemptOfToken, callbackSignature, callbackUrl } from "../../adapters/callback-signing.ts";
import type {
  CreateServerRequest,
  Provider,
  ReadyResult,
  ScriptOptions,
  ScriptResult,
  ServerArtifacts,
  ServerRef,
  ShellCommand,
} from "../../ports/provider.ts";
import type { RateBudget } from "../../ports/rate-budget.ts";
import type { CredentialRecord, TeamCredentialRecord } from "../../ports/store.ts";
import { createMemoryRateBudget } from "../../shared/memory-rate-budget.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { delay, truncateUtf8 } from "../timing.ts";
import {
  type BootstrapDeps,
  type BootstrapTarget,
  ensureBootstrap,
  ensureFirewallGroup,
  type FirewallRule,
  firewallPermissions,
} from "./bootstrap.ts";
import { type AwsClientFactory, type AwsClients, type ClientTarget, sdkClientFactory } from "./clients.ts";
import { accountKeyOf, type CredentialSource, sessionNameFor } from "./credentials.ts";
import {
  AwsApiError,
  AwsCredentialError,
  awsErrorCode,
  isNotFound,
  ProviderThrottledError,
  translateAwsError,
} from "./errors.ts";
import type { BootstrapLeases, BootstrapResources } from "./leases.ts";
import { loadEc2, loadInstanceConnect, loadSsm } from "./sdk.ts";
import { resolveInstanceType } from "./sizes.ts";
import { launchBudgetKey, RUN_INSTANCES_RATE } from "./token-bucket.ts";
import { encodeUserData, STATE_DIR, shellQuote } from "./user-data.ts";

/**
 * The `aws` provider: servers are EC2 instances in the team's own account, reached with the team's
 * credential (see credentials.ts), in the shared network of that credential and region (see
 * bootstrap.ts). Readiness is reported by the instance itself (see user-data.ts and
 * src/adapters/callback-signing.ts); `run_script` goes through SSM Run Command. A server's options
 * (region, credential) come with its ServerRef: the provider reads neither the stack nor the template.
 *
 * Template options: `region`, `ami`, `credential` (default `default`), `disk_gb`, `firewall`,
 * `public_keys`, `ssh_user`. `teamstack shell` opens ssh with a one-time key (see ssh-shell.ts).
 */

/** Finds a team's registered credential by name; undefined when the team has none of that name. */
export type CredentialLookup = (team: string, name: string) => Promise<TeamCredentialRecord | undefined>;

export interface AwsProviderOptions {
  /** Where each credential's bootstrap (shared network per region) is recorded and claimed. */
  readonly leases: BootstrapLeases;
  /** Finds the team credential a server names (its `credential` option, `default` without one). */
  readonly findCredential: CredentialLookup;
  readonly credentials: CredentialSource;
  /** Makes the EC2 and SSM clients for a credential and region (default: SDK clients, cached). */
  readonly clients?: AwsClientFactory;
  /**
   * The readiness callback: where instances report and the secret their URLs are signed with,
   * asked for when a server is created. Without it instances only record their exit code, and
   * readiness is known through waitUntilReady alone.
   */
  readonly callback?: () => Promise<{ readonly baseUrl: string; readonly secret: Uint8Array }>;
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * The RunInstances budget, one per account and region: shared through the table by every
   * container and stack in a deployment (src/store/rate-budget.ts); this process's own by default.
   */
  readonly launches?: RateBudget;
  /** The longest a launch waits for its turn in that budget (default 180 s, within CreateServer's 300 s). */
  readonly launchWaitMs?: number;
  /** How long create waits for a new instance's public address (default 60 s). */
  readonly addressWaitMs?: number;
  /** Between polls of EC2 and SSM (default 2 s; waitUntilReady polls every 5 such). */
  readonly pollMs?: number;
  /** How long stop and start wait for the instance to be stopped or running (default 480 s, within their tasks' 600 s). */
  readonly stateWaitMs?: number;
  /** Makes the EC2 Instance Connect client `shell` pushes its key with (default: the SDK's). */
  readonly instanceConnect?: (
    target: ClientTarget,
  ) => EC2InstanceConnectClient | Promise<EC2InstanceConnectClient>;
  /** Where `shell` finds ssh and ssh-keygen (default: PATH). */
  readonly sshSearchPath?: string;
  /** Where `shell` remembers servers' host keys (the local runtime's state dir); a shell's own temporary folder without it. */
  readonly knownHostsDir?: string;
}

/** SSM public parameters of the newest Ubuntu LTS image, per architecture. */
export const UBUNTU_IMAGE_PARAMETER = {
  x86_64: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
  arm64: "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
} as const;

/** States of an instance that will not run again. */
const GONE_STATES = new Set(["shutting-down", "terminated", "stopping", "stopped"]);
/** How long a resolved default image and an image's details are reused. */
const IMAGE_TTL_MS = 60 * 60_000;
/** SSM returns at most this much of a command's stdout and stderr. */
const SSM_STDOUT_CHARS = 24_000;
const SSM_STDERR_CHARS = 8_000;
/** Marks the line of the exit code in waitUntilReady's probe. */
const EXIT_MARK = "teamstack-exit-code:";

interface AwsOptions {
  readonly credential: string;
  readonly region?: string;
  readonly ami?: string;
  readonly diskGb?: number;
  readonly firewall: readonly FirewallRule[];
  readonly publicKeys: readonly string[];
  readonly sshUser?: string;
}

/**
 * The aws options of a server (validated with the template already; checked again here).
 * @throws ProviderRequestError naming the option.
 */
export function parseAwsOptions(options: Readonly<Record<string, unknown>>): AwsOptions {
  const str = (name: string): string | undefined => {
    const v = options[name];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") {
      throw new ProviderRequestError(`aws option ${name} is ${JSON.stringify(v)}; expected a string`);
    }
    return v;
  };
  const disk = options.disk_gb;
  if (disk !== undefined && (typeof disk !== "number" || !Number.isInteger(disk) || disk < 1)) {
    throw new ProviderRequestError(
      `aws option disk_gb is ${JSON.stringify(disk)}; expected a whole number of GB`,
    );
  }
  const firewall = options.firewall ?? [];
  if (!Array.isArray(firewall) || firewall.some((r) => typeof r !== "object" || r === null)) {
    throw new ProviderRequestError("aws option firewall: expected a list of rules (port, protocol, from)");
  }
  const keys = options.public_keys ?? [];
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "string")) {
    throw new ProviderRequestError("aws option public_keys: expected a list of OpenSSH public keys");
  }
  const region = str("region");
  const ami = str("ami");
  const sshUser = str("ssh_user");
  return {
    credential: str("credential") ?? "default",
    ...(region !== undefined ? { region } : {}),
    ...(ami !== undefined ? { ami } : {}),
    ...(typeof disk === "number" ? { diskGb: disk } : {}),
    firewall: firewall as FirewallRule[],
    publicKeys: keys as string[],
    ...(sshUser !== undefined ? { sshUser } : {}),
  };
}

/** EC2's ClientToken: the idempotency token when it fits (64 visible ASCII characters), else its hash. */
export function clientTokenOf(token: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(token) ? token : createHash("sha256").update(token).digest("hex");
}

/** The tags of a server's instance and root volume. */
export function serverTags(
  request: Pick<CreateServerRequest, "stackId" | "server" | "team" | "member">,
): Tag[] {
  return [
    { Key: "Name", Value: `${request.stackId}/${request.server}` },
    { Key: "teamstack:stack", Value: request.stackId },
    { Key: "teamstack:server", Value: request.server },
    { Key: "teamstack:team", Value: request.team },
    { Key: "teamstack:member", Value: request.member },
  ];
}

interface Context {
  readonly team: string;
  readonly credential: CredentialRecord;
  readonly region: string;
  readonly clients: AwsClients;
  readonly accountKey: string;
  /** What the clients were made for: the region and the credentials of the team's role session. */
  readonly target: ClientTarget;
}

interface ImageInfo {
  readonly imageId: string;
  readonly rootDevice: string;
  readonly minSizeGb: number;
  readonly architecture: string;
}

const BOOTSTRAP_GONE = /^(InvalidSubnetID|InvalidSubnet|InvalidGroup|InvalidKeyPair|InvalidVpcID)\.NotFound$/;

class AwsProvider implements Provider {
  readonly name = "aws" as const;
  readonly #findCredential: CredentialLookup;
  readonly #credentials: CredentialSource;
  readonly #clients: AwsClientFactory;
  readonly #callback: AwsProviderOptions["callback"];
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #addressWaitMs: number;
  readonly #pollMs: number;
  readonly #stateWaitMs: number;
  readonly #launches: RateBudget;
  readonly #launchWaitMs: number;
  readonly #bootstrap: BootstrapDeps;
  readonly #images = new Map<string, { value: Promise<ImageInfo>; until: number }>();
  readonly #firewalls = new Map<string, Promise<string>>();
  readonly #instanceConnect: NonNullable<AwsProviderOptions["instanceConnect"]>;
  readonly #sshSearchPath: string | undefined;
  readonly #knownHostsDir: string | undefined;

  constructor(options: AwsProviderOptions) {
    this.#findCredential = options.findCredential;
    this.#credentials = options.credentials;
    this.#clients = options.clients ?? sdkClientFactory();
    this.#callback = options.callback;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? delay;
    this.#addressWaitMs = options.addressWaitMs ?? 60_000;
    this.#pollMs = options.pollMs ?? 2_000;
    this.#stateWaitMs = options.stateWaitMs ?? 480_000;
    this.#launches =
      options.launches ?? createMemoryRateBudget({ now: this.#now, sleep: (ms) => this.#sleep(ms) });
    this.#launchWaitMs = options.launchWaitMs ?? 180_000;
    this.#instanceConnect =
      options.instanceConnect ??
      (async (target) => {
        const { EC2InstanceConnectClient } = await loadInstanceConnect();
        return new EC2InstanceConnectClient({ region: target.region, credentials: target.credentials });
      });
    this.#sshSearchPath = options.sshSearchPath ?? process.env.PATH;
    this.#knownHostsDir = options.knownHostsDir;
    this.#bootstrap = {
      leases: options.leases,
      owner: randomUUID(),
      now: this.#now,
      sleep: (ms) => this.#sleep(ms),
    };
  }

  async create(request: CreateServerRequest): Promise<ServerArtifacts> {
    const options = parseAwsOptions(request.options);
    const ctx = await this.#context(request.team, request.stackId, options);
    const token = clientTokenOf(request.idempotencyToken);
    // The answer of an earlier try may have been lost after EC2 made the instance: find it first.
    const earlier = await this.#findByToken(ctx, token);
    if (earlier) {
      if (GONE_STATES.has(earlier.State?.Name ?? "")) {
        throw new ServerNotFoundError(
          request.stackId,
          request.server,
          `instance ${earlier.InstanceId} made with client token ${token} is ${earlier.State?.Name}; the next attempt makes a new one`,
        );
      }
      return this.#artifacts(ctx, await this.#withAddress(ctx, earlier));
    }
    const type = resolveInstanceType(request.type);
    const callback = this.#callback ? await this.#callback() : undefined;
    const target = {
      team: request.team,
      stackId: request.stackId,
      server: request.server,
      attempt: attemptOfToken(request.idempotencyToken),
    };
    // Checked before anything is made in the account: an oversized user_data fails at once.
    const userData = encodeUserData({
      stackId: request.stackId,
      server: request.server,
      userData: request.userData,
      publicKeys: options.publicKeys,
      ...(callback
        ? {
            callback: {
              url: callbackUrl(callback.baseUrl, callback.secret, target),
              signature: callbackSignature(callback.secret, target),
            },
          }
        : {}),
    });
    const image = await this.#image(ctx, options.ami, type.architecture);
    if (image.architecture !== type.architecture) {
      throw new ProviderRequestError(
        `server \`${request.server}\`: image ${image.imageId} is for ${image.architecture} but ${type.instanceType} runs ${type.architecture}`,
      );
    }
    const diskGb = options.diskGb ?? type.diskGb ?? Math.max(image.minSizeGb, 8);
    if (diskGb < image.minSizeGb) {
      throw new ProviderRequestError(
        `server \`${request.server}\`: a ${diskGb} GB disk is smaller than image ${image.imageId} (${image.minSizeGb} GB); ask for at least ${image.minSizeGb} GB`,
      );
    }
    const tags = serverTags(request);
    const input = (resources: BootstrapResources, groups: string[]): RunInstancesCommandInput => ({
      ClientToken: token,
      ImageId: image.imageId,
      InstanceType: type.instanceType as RunInstancesCommandInput["InstanceType"],
      MinCount: 1,
      MaxCount: 1,
      KeyName: resources.keyName,
      SubnetId: resources.subnetId,
      SecurityGroupIds: groups,
      UserData: userData,
      MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
      BlockDeviceMappings: [
        {
          DeviceName: image.rootDevice,
          Ebs: { VolumeSize: diskGb, VolumeType: "gp3", Encrypted: true, DeleteOnTermination: true },
        },
      ],
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
      ...(ctx.credential.instanceProfile
        ? {
            IamInstanceProfile: ctx.credential.instanceProfile.startsWith("arn:")
              ? { Arn: ctx.credential.instanceProfile }
              : { Name: ctx.credential.instanceProfile },
          }
        : {}),
    });
    const what = `EC2 RunInstances for server \`${request.server}\` in ${ctx.region}`;
    const { RunInstancesCommand } = await loadEc2();
    let instance: Instance | undefined;
    for (let verify = false; ; verify = true) {
      const resources = await ensureBootstrap(this.#bootstrap, this.#target(ctx), { verify });
      const groups = [resources.securityGroupId];
      const permissions = firewallPermissions(options.firewall, options.publicKeys.length > 0);
      if (permissions.length > 0) groups.push(await this.#firewall(ctx, resources.vpcId, permissions));
      const turn = await this.#launches.take(
        launchBudgetKey(ctx.accountKey, ctx.region),
        RUN_INSTANCES_RATE,
        {
          maxWaitMs: this.#launchWaitMs,
        },
      );
      if (!turn) {
        throw new ProviderThrottledError(
          `${what}: more launches are queued for this account and region than its rate (a burst of ${RUN_INSTANCES_RATE.burst}, then ${RUN_INSTANCES_RATE.perSecond} a second) allows within ${this.#launchWaitMs} ms; retry later`,
        );
      }
      try {
        instance = (await ctx.clients.ec2.send(new RunInstancesCommand(input(resources, groups))))
          .Instances?.[0];
        break;
      } catch (err) {
        // A recorded bootstrap resource was deleted: look again in the account, once.
        if (!verify && BOOTSTRAP_GONE.test(awsErrorCode(err).code)) continue;
        throw translateAwsError(err, what);
      }
    }
    if (!instance?.InstanceId) throw new AwsApiError(`${what} answered without an instance`, "NoInstance");
    return this.#artifacts(ctx, await this.#withAddress(ctx, instance));
  }

  async waitUntilReady(ref: ServerRef, signal?: AbortSignal): Promise<ReadyResult> {
    signal?.throwIfAborted();
    const ctx = await this.#refContext(ref);
    // EC2 tells whether the instance runs, not whether user_data finished: that is read from the
    // exit code the wrapper leaves on the instance, through SSM, until it appears.
    for (;;) {
      const instance = await this.#instanceOf(ctx, ref);
      const state = instance?.State?.Name ?? "gone";
      if (!instance || GONE_STATES.has(state)) {
        return {
          ready: false,
          reason: `instance ${instance?.InstanceId ?? ref.id} of ${ref.server} is ${state}: it was destroyed or never created`,
        };
      }
      if (state === "running") {
        const probe = await this.#probe(ctx, instance.InstanceId as string, signal);
        if (probe) return probe;
      }
      await this.#sleep(this.#pollMs * 5, signal);
    }
  }

  async runScript(ref: ServerRef, script: string, options: ScriptOptions): Promise<ScriptResult> {
    const ctx = await this.#refContext(ref);
    const id = ref.id || (await this.#instanceOf(ctx, ref))?.InstanceId;
    if (!id) throw new ServerNotFoundError(ref.stackId, ref.server, "it has no instance id");
    const exports = Object.entries(options.env ?? {}).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        throw new ProviderRequestError(`environment variable name \`${k}\` cannot be exported by a shell`);
      }
      return `export ${k}=${shellQuote(v)}`;
    });
    return this.#runShell(
      ctx,
      ref,
      id,
      [...exports, script].join("\n"),
      options.timeoutMs,
      options.maxOutputBytes,
    );
  }

  async destroy(ref: ServerRef): Promise<void> {
    const ctx = await this.#refContext(ref);
    const id = ref.id || (await this.#instanceOf(ctx, ref))?.InstanceId;
    if (!id) return;
    const { TerminateInstancesCommand } = await loadEc2();
    try {
      await ctx.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw translateAwsError(
        err,
        `EC2 TerminateInstances ${id} (server \`${ref.server}\`) in ${ctx.region}`,
      );
    }
    // Nothing else is the server's own: its root volume goes with it (DeleteOnTermination), and
    // the network and security groups are shared by the credential's servers.
  }

  /**
   * Stops the instance (EC2 StopInstances: its EBS root volume, its id and its private address are
   * kept) and waits until it is stopped. A stopped instance is left as it is.
   * @throws ServerNotFoundError when the instance is gone (terminated, or never made).
   */
  async stop(ref: ServerRef): Promise<void> {
    const ctx = await this.#refContext(ref);
    const instance = await this.#liveInstance(ctx, ref, "stop");
    const id = instance.InstanceId as string;
    if (instance.State?.Name !== "stopped" && instance.State?.Name !== "stopping") {
      const { StopInstancesCommand } = await loadEc2();
      try {
        await ctx.clients.ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
      } catch (err) {
        throw translateAwsError(err, `EC2 StopInstances ${id} (server \`${ref.server}\`) in ${ctx.region}`);
      }
    }
    await this.#waitForState(ctx, ref, id, "stopped");
  }

  /**
   * Starts a stopped instance (EC2 StartInstances), waits until it runs and has its public address
   * (a new one, unless it has an Elastic IP), and answers its artifacts as they are now.
   * @throws ServerNotFoundError when the instance is gone (terminated, or never made).
   */
  async start(ref: ServerRef): Promise<ServerArtifacts> {
    const ctx = await this.#refContext(ref);
    const instance = await this.#liveInstance(ctx, ref, "start");
    const id = instance.InstanceId as string;
    if (instance.State?.Name !== "running") {
      // A stopping instance cannot be started until it has stopped.
      if (instance.State?.Name === "stopping") await this.#waitForState(ctx, ref, id, "stopped");
      if (instance.State?.Name !== "pending") {
        const { StartInstancesCommand } = await loadEc2();
        try {
          await ctx.clients.ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
        } catch (err) {
          throw translateAwsError(
            err,
            `EC2 StartInstances ${id} (server \`${ref.server}\`) in ${ctx.region}`,
          );
        }
      }
    }
    const running = await this.#waitForState(ctx, ref, id, "running");
    return this.#artifacts(ctx, await this.#withAddress(ctx, running));
  }

  /**
   * An ssh command into the server with a one-time key pushed through EC2 Instance Connect, as the
   * server's `ssh_user` or its image's usual user (see ssh-shell.ts for why this way).
   * @throws ProviderRequestError when ssh or ssh-keygen is missing, SSH is not let in, the instance
   * is stopped, or its user is unknown; ServerNotFoundError when it is gone.
   */
  async shell(ref: ServerRef, term: string | undefined): Promise<ShellCommand> {
    // Loaded here only: a terminal's code, left out of the Lambda bundles (SHELL_ONLY_MODULES).
    const { awsShellCommand, DEFAULT_IMAGE_USER, findSshTools, requireSshIngress } = await import(
      "./ssh-shell.ts"
    );
    const options = parseAwsOptions(ref.options ?? {});
    // Checked before any AWS call: nothing is pushed for a shell that cannot start.
    const tools = await findSshTools(this.#sshSearchPath);
    requireSshIngress(ref.server, options);
    const ctx = await this.#refContext(ref);
    const instance = await this.#liveInstance(ctx, ref, "open a shell on");
    const user =
      options.sshUser ?? (options.ami ? await this.#imageUser(ctx, ref, instance) : DEFAULT_IMAGE_USER);
    return awsShellCommand(
      {
        stackId: ref.stackId,
        server: ref.server,
        region: ctx.region,
        instance,
        user,
        instanceConnect: async () => this.#instanceConnect(ctx.target),
        ...(this.#knownHostsDir ? { knownHostsDir: this.#knownHostsDir } : {}),
      },
      tools,
      term,
    );
  }

  /** The usual login user of the image an instance runs, from the image's name. */
  async #imageUser(ctx: Context, ref: ServerRef, instance: Instance): Promise<string> {
    const imageId = instance.ImageId ?? parseAwsOptions(ref.options ?? {}).ami ?? "";
    const { DescribeImagesCommand } = await loadEc2();
    let image: Image | undefined;
    try {
      image = (await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    } catch (err) {
      if (!isNotFound(err) && !/^InvalidAMIID\./.test(awsErrorCode(err).code)) {
        throw translateAwsError(err, `EC2 DescribeImages ${imageId} in ${ctx.region}`);
      }
    }
    const { loginUserOfImage } = await import("./ssh-shell.ts");
    const user = image ? loginUserOfImage(image) : undefined;
    if (!user) {
      throw new ProviderRequestError(
        `server \`${ref.server}\` runs image ${imageId}${image?.Name ? ` (${image.Name})` : ""}, whose login user teamstack does not know: set its ssh_user option (ec2-user for Amazon Linux, ubuntu for Ubuntu, admin for Debian)`,
      );
    }
    return user;
  }

  /** The server's instance, unless it is terminated or was never made. */
  async #liveInstance(ctx: Context, ref: ServerRef, verb: string): Promise<Instance> {
    const instance = await this.#instanceOf(ctx, ref);
    const state = instance?.State?.Name ?? "gone";
    if (!instance?.InstanceId || state === "terminated" || state === "shutting-down") {
      throw new ServerNotFoundError(
        ref.stackId,
        ref.server,
        `cannot ${verb} instance ${instance?.InstanceId ?? (ref.id || "(none)")}: it is ${state}`,
      );
    }
    return instance;
  }

  /** Polls the instance until it is in `state`, within stateWaitMs. */
  async #waitForState(
    ctx: Context,
    ref: ServerRef,
    id: string,
    state: "stopped" | "running",
  ): Promise<Instance> {
    const deadline = this.#now() + this.#stateWaitMs;
    for (;;) {
      const instance = (await this.#describe(ctx, { InstanceIds: [id] }, id))[0];
      const now = instance?.State?.Name ?? "gone";
      if (instance && now === state) return instance;
      if (!instance || now === "terminated" || now === "shutting-down") {
        throw new ServerNotFoundError(ref.stackId, ref.server, `instance ${id} is ${now}, not ${state}`);
      }
      if (this.#now() >= deadline) {
        throw new AwsApiError(
          `instance ${id} (server \`${ref.server}\`) in ${ctx.region} is still ${now} after ${Math.round(this.#stateWaitMs / 1000)} s; expected ${state}`,
          "StateTimeout",
        );
      }
      await this.#sleep(this.#pollMs);
    }
  }

  /** The credential, region and clients for a server with these options. */
  async #context(team: string, stackId: string, options: AwsOptions): Promise<Context> {
    const found = await this.#findCredential(team, options.credential);
    // A credential of that name for another provider is not this provider's.
    const credential = found?.kind === "fields" ? undefined : found;
    if (!credential) {
      throw new AwsCredentialError(
        `team \`${team}\` has no aws credential \`${options.credential}\`: register the team's role (or access keys) under that name first`,
      );
    }
    const region = options.region ?? credential.region;
    const session = sessionNameFor(stackId);
    // Fetched now so that a refused role fails here, with its own message, before any EC2 call.
    await this.#credentials.get(credential, session);
    const target: ClientTarget = {
      region,
      key: this.#credentials.cacheKey(credential, session),
      credentials: () => this.#credentials.get(credential, session),
    };
    const clients = await this.#clients(target);
    return { team, credential, region, clients, accountKey: accountKeyOf(credential), target };
  }

  /** The context of an existing server: its options come with its ref. */
  async #refContext(ref: ServerRef): Promise<Context> {
    if (!ref.team) {
      throw new ProviderRequestError(
        `the aws provider needs the team of server \`${ref.server}\` (ServerRef.team) to find its credential`,
      );
    }
    return this.#context(ref.team, ref.stackId, parseAwsOptions(ref.options ?? {}));
  }

  #target(ctx: Context): BootstrapTarget {
    return {
      team: ctx.team,
      credential: ctx.credential.name,
      region: ctx.region,
      ec2: ctx.clients.ec2,
      ssm: ctx.clients.ssm,
    };
  }

  async #firewall(ctx: Context, vpcId: string, permissions: Parameters<typeof ensureFirewallGroup>[3]) {
    const key = `${ctx.accountKey}|${ctx.region}|${vpcId}|${JSON.stringify(permissions)}`;
    let group = this.#firewalls.get(key);
    if (!group) {
      group = ensureFirewallGroup(this.#bootstrap, this.#target(ctx), vpcId, permissions);
      this.#firewalls.set(key, group);
      group.catch(() => this.#firewalls.delete(key));
    }
    return group;
  }

  async #describe(ctx: Context, input: DescribeInstancesCommandInput, what: string) {
    const { DescribeInstancesCommand } = await loadEc2();
    try {
      const out = await ctx.clients.ec2.send(new DescribeInstancesCommand(input));
      return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw translateAwsError(err, `EC2 DescribeInstances (${what}) in ${ctx.region}`);
    }
  }

  /** The instance made with a client token: a live one first, else the newest gone one. */
  async #findByToken(ctx: Context, token: string): Promise<Instance | undefined> {
    const found = await this.#describe(
      ctx,
      { Filters: [{ Name: "client-token", Values: [token] }] },
      `client token ${token}`,
    );
    return found.find((i) => !GONE_STATES.has(i.State?.Name ?? "")) ?? found[0];
  }

  /** A server's instance: by id, or by the client token of a create whose answer was lost. */
  async #instanceOf(ctx: Context, ref: ServerRef): Promise<Instance | undefined> {
    if (ref.id) return (await this.#describe(ctx, { InstanceIds: [ref.id] }, ref.id))[0];
    return ref.token ? this.#findByToken(ctx, clientTokenOf(ref.token)) : undefined;
  }

  /** The instance once it has its public address (or has none coming), within addressWaitMs. */
  async #withAddress(ctx: Context, instance: Instance): Promise<Instance> {
    let current = instance;
    const deadline = this.#now() + this.#addressWaitMs;
    while (!current.PublicIpAddress && current.State?.Name === "pending" && this.#now() < deadline) {
      await this.#sleep(this.#pollMs);
      const id = current.InstanceId as string;
      current = (await this.#describe(ctx, { InstanceIds: [id] }, id))[0] ?? current;
    }
    return current;
  }

  #artifacts(ctx: Context, instance: Instance): ServerArtifacts {
    const priv = instance.PrivateIpAddress;
    const pub = instance.PublicIpAddress;
    return {
      Id: instance.InstanceId as string,
      IP: pub ?? priv ?? "",
      ...(priv ? { PrivateIP: priv } : {}),
      ...(pub ? { PublicIP: pub } : {}),
      Hostname: instance.PublicDnsName || instance.PrivateDnsName || (instance.InstanceId as string),
      Provider: "aws",
      Type: instance.InstanceType ?? "",
      Region: ctx.region,
    };
  }

  /** An image's root device, size and architecture; the newest Ubuntu LTS when none is given. */
  #image(ctx: Context, ami: string | undefined, architecture: "x86_64" | "arm64"): Promise<ImageInfo> {
    const key = `${ctx.accountKey}|${ctx.region}|${ami ?? architecture}`;
    const hit = this.#images.get(key);
    if (hit && this.#now() < hit.until) return hit.value;
    const value = (async () => {
      const [{ DescribeImagesCommand }, { GetParameterCommand }] = await Promise.all([loadEc2(), loadSsm()]);
      let imageId = ami;
      if (!imageId) {
        const name = UBUNTU_IMAGE_PARAMETER[architecture];
        try {
          const out = await ctx.clients.ssm.send(new GetParameterCommand({ Name: name }));
          imageId = out.Parameter?.Value;
        } catch (err) {
          throw translateAwsError(err, `SSM GetParameter ${name} in ${ctx.region}`);
        }
        if (!imageId) throw new AwsApiError(`SSM parameter ${name} in ${ctx.region} has no value`, "NoValue");
      }
      let image: Image | undefined;
      try {
        image = (await ctx.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
      } catch (err) {
        if (!isNotFound(err) && !/^InvalidAMIID\./.test(awsErrorCode(err).code)) {
          throw translateAwsError(err, `EC2 DescribeImages ${imageId} in ${ctx.region}`);
        }
      }
      if (!image?.RootDeviceName) {
        throw new ProviderRequestError(
          `image ${imageId} does not exist in ${ctx.region}, or is not shared with the team's account`,
        );
      }
      const rootDevice = image.RootDeviceName;
      const root = image.BlockDeviceMappings?.find((m) => m.DeviceName === rootDevice);
      return {
        imageId,
        rootDevice,
        minSizeGb: root?.Ebs?.VolumeSize ?? 8,
        architecture: image.Architecture === "arm64" ? "arm64" : (image.Architecture ?? "x86_64"),
      };
    })();
    this.#images.set(key, { value, until: this.#now() + IMAGE_TTL_MS });
    value.catch(() => this.#images.delete(key));
    return value;
  }

  /**
   * Runs a shell script through SSM Run Command (AWS-RunShellScript) and waits for it; past the
   * timeout (and a minute's grace for SSM itself) the command is cancelled.
   */
  async #runShell(
    ctx: Context,
    ref: ServerRef,
    id: string,
    script: string,
    timeoutMs: number,
    maxOutputBytes: number,
    signal?: AbortSignal,
  ): Promise<ScriptResult> {
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const what = `SSM SendCommand to ${id} (server \`${ref.server}\`) in ${ctx.region}`;
    const { CancelCommandCommand, GetCommandInvocationCommand, SendCommandCommand } = await loadSsm();
    let commandId: string | undefined;
    try {
      const out = await ctx.clients.ssm.send(
        new SendCommandCommand({
          InstanceIds: [id],
          DocumentName: "AWS-RunShellScript",
          Parameters: { commands: [script], executionTimeout: [String(seconds)] },
          TimeoutSeconds: 60,
          Comment: `teamstack ${ref.stackId}/${ref.server}`.slice(0, 100),
        }),
      );
      commandId = out.Command?.CommandId;
    } catch (err) {
      const { code } = awsErrorCode(err);
      if (code === "InvalidInstanceId") {
        throw new AwsApiError(
          `${what}: the instance is not reachable through SSM (not running yet, no SSM agent, or no instance profile with AmazonSSMManagedInstanceCore: set the credential's instanceProfile)`,
          code,
          { cause: err },
        );
      }
      throw translateAwsError(err, what);
    }
    if (!commandId) throw new AwsApiError(`${what} answered without a command id`, "NoCommand");
    const deadline = this.#now() + seconds * 1000 + 60_000;
    let result: GetCommandInvocationCommandOutput | undefined;
    for (;;) {
      await this.#sleep(this.#pollMs, signal);
      try {
        result = await ctx.clients.ssm.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: id }),
        );
      } catch (err) {
        // Right after SendCommand the invocation may not be visible yet.
        if (awsErrorCode(err).code !== "InvocationDoesNotExist") {
          throw translateAwsError(err, `SSM GetCommandInvocation ${commandId} in ${ctx.region}`);
        }
      }
      const status = result?.Status ?? "Pending";
      if (!["Pending", "InProgress", "Delayed", "Cancelling"].includes(status)) break;
      if (this.#now() >= deadline) {
        await ctx.clients.ssm
          .send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [id] }))
          .catch(() => undefined);
        const { text, truncated } = truncateUtf8(
          `${result?.StandardOutputContent ?? ""}\n[teamstack: cancelled after ${seconds} s]\n`,
          maxOutputBytes,
        );
        return { exitCode: 124, output: text, truncated };
      }
    }
    const details = result?.StatusDetails ?? "";
    if (details === "Undeliverable" || details === "Delivery Timed Out" || details === "Terminated") {
      throw new AwsApiError(`${what}: the command could not run (${details})`, details.replaceAll(" ", ""));
    }
    const stdout = result?.StandardOutputContent ?? "";
    const stderr = result?.StandardErrorContent ?? "";
    const exitCode =
      result?.Status === "TimedOut"
        ? 124
        : result?.Status === "Cancelled"
          ? 130
          : (result?.ResponseCode ?? -1) >= 0
            ? (result?.ResponseCode as number)
            : result?.Status === "Success"
              ? 0
              : 1;
    const { text, truncated } = truncateUtf8(
      stderr ? `${stdout}${stdout.endsWith("\n") || !stdout ? "" : "\n"}${stderr}` : stdout,
      maxOutputBytes,
    );
    return {
      exitCode,
      output: text,
      truncated: truncated || stdout.length >= SSM_STDOUT_CHARS || stderr.length >= SSM_STDERR_CHARS,
    };
  }

  /** Reads the exit code the wrapper left; undefined while user_data runs (or SSM cannot reach it yet). */
  async #probe(ctx: Context, id: string, signal?: AbortSignal): Promise<ReadyResult | undefined> {
    const script = [
      `if [ -f ${STATE_DIR}/exit-code ]; then`,
      `  echo "${EXIT_MARK}$(cat ${STATE_DIR}/exit-code)"`,
      `  tail -c 4000 ${STATE_DIR}/user-data.log`,
      "fi",
    ].join("\n");
    let result: ScriptResult;
    try {
      result = await this.#runShell(ctx, { stackId: "", server: id, id }, id, script, 60_000, 8192, signal);
    } catch (err) {
      if (err instanceof AwsApiError && err.code === "InvalidInstanceId") return undefined;
      throw err;
    }
    const first = result.output.split("\n", 1)[0] ?? "";
    if (!first.startsWith(EXIT_MARK)) return undefined;
    const code = Number(first.slice(EXIT_MARK.length));
    if (code === 0) return { ready: true };
    return {
      ready: false,
      exitCode: code,
      reason: `user_data failed on instance ${id}`,
      output: result.output.slice(first.length + 1),
    };
  }
}

/** Creates the `aws` provider: EC2 instances in each team's own account. */
export function createAwsProvider(options: AwsProviderOptions): Provider {
  return new AwsProvider(options);
}
