import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
} from "@aws-sdk/client-ssm";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { PIPELINE_ERROR_NAMES } from "../../../../src/pipeline/errors.ts";
import { callbackSignature } from "../../../../src/providers/aws/callback.ts";
import { AwsCredentialError, ProviderThrottledError } from "../../../../src/providers/aws/errors.ts";
import {
  ProviderError,
  ProviderRequestError,
  ServerNotFoundError,
} from "../../../../src/providers/errors.ts";
import {
  BOOTSTRAPPED,
  CALLBACK_BASE,
  EXTERNAL_ID,
  ec2,
  instance,
  REGION,
  ROLE_ARN,
  request,
  resetMocks,
  SECRET,
  SESSION,
  ssm,
  sts,
  testProvider,
  UBUNTU_ARM,
  UBUNTU_X86,
} from "./support.ts";

beforeEach(() => {
  resetMocks();
});

function runInput(): RunInstancesCommandInput {
  const calls = ec2.commandCalls(RunInstancesCommand);
  expect(calls).toHaveLength(1);
  return calls[0]?.args[0].input as RunInstancesCommandInput;
}

function userDataOf(input: RunInstancesCommandInput): string {
  return Buffer.from(input.UserData as string, "base64").toString("utf8");
}

describe("aws provider: create", () => {
  it("launches with the exact RunInstances input: client token, tags, IMDSv2, encrypted root, bootstrap network", async () => {
    ec2
      .on(RunInstancesCommand)
      .resolves({ Instances: [instance()] })
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [] })
      .on(CreateSecurityGroupCommand)
      .resolves({ GroupId: "sg-fw" })
      .on(AuthorizeSecurityGroupIngressCommand)
      .resolves({ Return: true });
    const { provider } = testProvider();
    const artifacts = await provider.create(
      request({
        options: { firewall: [{ port: 443 }], public_keys: ["ssh-ed25519 AAAAC3Nza ada@laptop"] },
      }),
    );
    const input = runInput();
    const tags = [
      { Key: "Name", Value: "st-0123456789abcdef/web" },
      { Key: "teamstack:stack", Value: "st-0123456789abcdef" },
      { Key: "teamstack:server", Value: "web" },
      { Key: "teamstack:team", Value: "acme" },
      { Key: "teamstack:member", Value: "ada" },
    ];
    expect(input.ClientToken).toBe("st-0123456789abcdef.web.1");
    expect(input.ImageId).toBe(UBUNTU_X86);
    expect(input.InstanceType).toBe("t3.micro");
    expect([input.MinCount, input.MaxCount]).toEqual([1, 1]);
    expect(input.SubnetId).toBe(BOOTSTRAPPED.subnetId);
    expect(input.KeyName).toBe(BOOTSTRAPPED.keyName);
    // The base group (servers of the credential reach each other), and one for the firewall rules,
    // with SSH because the server has public keys.
    expect(input.SecurityGroupIds).toEqual([BOOTSTRAPPED.securityGroupId, "sg-fw"]);
    const opened = ec2.commandCalls(AuthorizeSecurityGroupIngressCommand)[0]?.args[0].input.IpPermissions;
    expect(opened?.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.[0]?.CidrIp])).toEqual([
      ["tcp", 443, 443, "0.0.0.0/0"],
      ["tcp", 22, 22, "0.0.0.0/0"],
    ]);
    expect(input.MetadataOptions).toEqual({ HttpTokens: "required", HttpEndpoint: "enabled" });
    expect(input.BlockDeviceMappings).toEqual([
      {
        DeviceName: "/dev/sda1",
        Ebs: { VolumeSize: 8, VolumeType: "gp3", Encrypted: true, DeleteOnTermination: true },
      },
    ]);
    expect(input.TagSpecifications).toEqual([
      { ResourceType: "instance", Tags: tags },
      { ResourceType: "volume", Tags: tags },
    ]);
    expect(input.IamInstanceProfile).toEqual({ Name: "teamstack-instance" });
    const script = userDataOf(input);
    expect(script.startsWith("#!/bin/bash\n")).toBe(true);
    expect(script).toContain("apt-get install -y nginx\n");
    expect(script).toContain("export TEAMSTACK_SERVER='web' TEAMSTACK_STACK_ID='st-0123456789abcdef'");
    expect(script).toContain("ssh-ed25519 AAAAC3Nza ada@laptop");
    const sig = callbackSignature(SECRET, {
      team: "acme",
      stackId: "st-0123456789abcdef",
      server: "web",
      attempt: 1,
    });
    expect(script).toContain(
      `url='${CALLBACK_BASE}/callbacks/ready/acme/st-0123456789abcdef/web/1?sig=${sig}'`,
    );
    expect(artifacts).toEqual({
      Id: "i-0123456789abcdef0",
      IP: "203.0.113.10",
      PrivateIP: "10.77.0.10",
      PublicIP: "203.0.113.10",
      Hostname: "ec2-203-0-113-10.eu-west-1.compute.amazonaws.com",
      Provider: "aws",
      Type: "t3.micro",
      Region: REGION,
    });
  });

  it("maps a portable size to the nearest offering and its disk, and disk_gb wins over it", async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance({ InstanceType: "t3.medium" })] });
    const { provider } = testProvider();
    await provider.create(request({ type: "4gb-ram/40gb-disk" }));
    expect(runInput()).toMatchObject({
      InstanceType: "t3.medium",
      BlockDeviceMappings: [{ Ebs: { VolumeSize: 40 } }],
    });
    ec2.resetHistory();
    await provider.create(
      request({ type: "2cpu/4gb-ram/40gb-disk", options: { disk_gb: 100 }, idempotencyToken: "t2" }),
    );
    expect(runInput()).toMatchObject({
      InstanceType: "t3.medium",
      BlockDeviceMappings: [{ Ebs: { VolumeSize: 100 } }],
    });
  });

  it("resolves the default image per architecture (arm64 for Graviton types) and takes options.ami as given", async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance()] });
    const { provider } = testProvider();
    await provider.create(request({ type: "t4g.small" }));
    expect(runInput().ImageId).toBe(UBUNTU_ARM);
    ec2.resetHistory();
    await provider.create(request({ options: { ami: "ami-0aaaabbbbccccdddd" }, idempotencyToken: "t2" }));
    expect(runInput().ImageId).toBe("ami-0aaaabbbbccccdddd");
  });

  it("refuses an image of the other architecture and a disk smaller than the image, before launching", async () => {
    const { provider } = testProvider();
    await expect(
      provider.create(request({ type: "t4g.small", options: { ami: UBUNTU_X86 } })),
    ).rejects.toThrow(/is for x86_64 but t4g.small runs arm64/);
    await expect(provider.create(request({ options: { ami: "ami-9nothere00000000" } }))).rejects.toThrow(
      ProviderRequestError,
    );
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it("recovers a lost RunInstances answer through the client-token filter and does not launch again", async () => {
    // EC2 made the instance, but the answer never arrived.
    ec2.on(RunInstancesCommand).rejects(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    const { provider } = testProvider();
    const first = await provider.create(request()).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ProviderThrottledError);
    expect((first as Error).name).toBe("ProviderThrottledError");
    // The retry (the ASL's, with the same token) finds it.
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [] })
      .on(DescribeInstancesCommand, {
        Filters: [{ Name: "client-token", Values: ["st-0123456789abcdef.web.1"] }],
      })
      .resolves({ Reservations: [{ Instances: [instance()] }] });
    const artifacts = await provider.create(request());
    expect(artifacts.Id).toBe("i-0123456789abcdef0");
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(1);
    const lookups = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    expect(lookups).toContainEqual({
      Filters: [{ Name: "client-token", Values: ["st-0123456789abcdef.web.1"] }],
    });
  });

  it("refuses to bring back an instance of its token that was terminated", async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance({ State: { Name: "terminated" } })] }],
    });
    const { provider } = testProvider();
    await expect(provider.create(request())).rejects.toThrow(ServerNotFoundError);
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it("waits for a pending instance's public address before answering", async () => {
    ec2.on(RunInstancesCommand).resolves({
      Instances: [instance({ State: { Name: "pending" }, PublicIpAddress: undefined, PublicDnsName: "" })],
    });
    ec2
      .on(DescribeInstancesCommand, { InstanceIds: ["i-0123456789abcdef0"] })
      .resolvesOnce({
        Reservations: [{ Instances: [instance({ State: { Name: "pending" }, PublicIpAddress: undefined })] }],
      })
      .resolves({ Reservations: [{ Instances: [instance()] }] });
    const { provider, time } = testProvider();
    const artifacts = await provider.create(request());
    expect(artifacts.PublicIP).toBe("203.0.113.10");
    expect(time.sleeps).toEqual([2000, 2000]);
  });

  it("turns RequestLimitExceeded into ProviderThrottledError, the name the ASL retries", async () => {
    ec2
      .on(RunInstancesCommand)
      .rejects(Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded" }));
    const { provider } = testProvider();
    const err = await provider.create(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderThrottledError);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).name).toBe("ProviderThrottledError");
    expect(PIPELINE_ERROR_NAMES).toContain((err as Error).name);
    expect((err as Error).message).toMatch(/RunInstances for server `web` in eu-west-1: AWS is throttling/);
    expect((err as Error).cause).toMatchObject({ name: "RequestLimitExceeded" });
  });

  it("spaces seven launches from one process at the account's rate: five at once, then one each 500 ms", async () => {
    vi.useFakeTimers({ now: Date.parse("2030-01-01T00:00:00Z"), toFake: ["setTimeout", "Date"] });
    try {
      const { provider } = testProvider({
        now: () => Date.now(),
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      });
      const start = Date.now();
      const launchedAt: number[] = [];
      ec2.on(RunInstancesCommand).callsFake(() => {
        launchedAt.push(Date.now() - start);
        return { Instances: [instance()] };
      });
      const all = Promise.all(
        Array.from({ length: 7 }, (_, i) =>
          provider.create(request({ server: `s${i}`, idempotencyToken: `t.s${i}.1` })),
        ),
      );
      await vi.advanceTimersByTimeAsync(2_000);
      await all;
      expect(launchedAt).toEqual([0, 0, 0, 0, 0, 500, 1000]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a user_data over EC2's 16 KB once wrapped, naming the sizes, and launches nothing", async () => {
    const { provider } = testProvider();
    const err = await provider
      .create(request({ userData: `echo ${"x".repeat(16 * 1024)}` }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderRequestError);
    expect((err as Error).message).toMatch(
      /user_data of server `web` is too large for EC2: \d+ bytes once rendered and wrapped/,
    );
    expect((err as Error).message).toContain("16384 bytes");
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it("assumes the team's role with its ExternalId and a session naming the stack, and EC2 signs with that session", async () => {
    let seen: unknown;
    ec2.on(RunInstancesCommand).callsFake(async (_input, getClient) => {
      seen = await getClient().config.credentials();
      return { Instances: [instance()] };
    });
    const { provider, targets } = testProvider();
    await provider.create(request());
    await provider.create(request({ server: "db", idempotencyToken: "t.db.1" }));
    const assumed = sts.commandCalls(AssumeRoleCommand);
    expect(assumed).toHaveLength(1);
    expect(assumed[0]?.args[0].input).toEqual({
      RoleArn: ROLE_ARN,
      ExternalId: EXTERNAL_ID,
      RoleSessionName: "teamstack-st-0123456789abcdef",
      DurationSeconds: 3600,
    });
    expect(seen).toMatchObject({
      accessKeyId: SESSION.AccessKeyId,
      secretAccessKey: SESSION.SecretAccessKey,
      sessionToken: SESSION.SessionToken,
    });
    expect(targets[0]?.region).toBe(REGION);
  });

  it("names the missing credential and a refused role without calling EC2", async () => {
    const { provider } = testProvider();
    await expect(provider.create(request({ options: { credential: "prod" } }))).rejects.toThrow(
      /team `acme` has no aws credential `prod`/,
    );
    sts.on(AssumeRoleCommand).rejects(Object.assign(new Error("not authorized"), { name: "AccessDenied" }));
    const err = await provider.create(request({ stackId: "st-other" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsCredentialError);
    expect((err as Error).message).toMatch(
      /cannot assume role arn:aws:iam::111122223333:role\/teamstack .*ExternalId/,
    );
    expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it("translates other EC2 errors into provider errors that keep the SDK error as cause only", async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(Object.assign(new Error("no capacity"), { name: "InsufficientInstanceCapacity" }))
      .rejectsOnce(Object.assign(new Error("bad type"), { name: "InvalidParameterValue" }));
    const { provider } = testProvider();
    const capacity = await provider.create(request()).catch((e: unknown) => e);
    expect(capacity).toBeInstanceOf(ProviderError);
    expect((capacity as Error).name).toBe("AwsApiError");
    expect((capacity as Error).message).toContain("InsufficientInstanceCapacity: no capacity");
    const bad = await provider.create(request()).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ProviderRequestError);
  });
});

/** The server's options as its stored spec gives them to the provider (ServerRef.options). */
const WEST = { region: "us-west-2" };

describe("aws provider: destroy", () => {
  it("terminates the instance in the region of the server's options", async () => {
    ec2.on(TerminateInstancesCommand).resolves({});
    const { provider, targets } = testProvider();
    await provider.destroy({ team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0abc" });
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ["i-0abc"] },
    ]);
    expect(targets.at(-1)?.region).toBe("us-west-2");
  });

  it("treats an instance already gone as destroyed, and finds one whose id was never recorded by its token", async () => {
    ec2
      .on(TerminateInstancesCommand)
      .rejectsOnce(Object.assign(new Error("gone"), { name: "InvalidInstanceID.NotFound" }))
      .resolves({});
    ec2
      .on(DescribeInstancesCommand, { Filters: [{ Name: "client-token", Values: ["st-1.web.2"] }] })
      .resolves({ Reservations: [{ Instances: [instance({ InstanceId: "i-0lost" })] }] });
    const { provider } = testProvider();
    await provider.destroy({ team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0gone" });
    await provider.destroy({
      team: "acme",
      stackId: "st-1",
      server: "web",
      options: WEST,
      id: "",
      token: "st-1.web.2",
    });
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([
      ["i-0gone"],
      ["i-0lost"],
    ]);
    await provider.destroy({
      team: "acme",
      stackId: "st-1",
      server: "web",
      options: WEST,
      id: "",
      token: "st-1.web.9",
    });
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(2);
  });

  it("asks for the team when a ref has none", async () => {
    const { provider } = testProvider();
    await expect(provider.destroy({ stackId: "st-1", server: "web", id: "i-1" })).rejects.toThrow(
      /needs the team of server `web`/,
    );
  });
});

describe("aws provider: run_script through SSM", () => {
  it("sends the script with its env to AWS-RunShellScript, waits for the invocation, and returns exit code and output", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(Object.assign(new Error("not yet"), { name: "InvocationDoesNotExist" }))
      .resolvesOnce({ Status: "InProgress" })
      .resolves({
        Status: "Failed",
        ResponseCode: 3,
        StandardOutputContent: "out\n",
        StandardErrorContent: "err\n",
      });
    const { provider, time } = testProvider();
    const result = await provider.runScript(
      { team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0abc" },
      "echo $GREETING\nexit 3",
      { timeoutMs: 90_000, maxOutputBytes: 1024, env: { GREETING: "it's me" } },
    );
    expect(result).toEqual({ exitCode: 3, output: "out\nerr\n", truncated: false });
    const sent = ssm.commandCalls(SendCommandCommand)[0]?.args[0].input as SendCommandCommandInput;
    expect(sent).toMatchObject({
      InstanceIds: ["i-0abc"],
      DocumentName: "AWS-RunShellScript",
      Parameters: {
        commands: ["export GREETING='it'\\''s me'\necho $GREETING\nexit 3"],
        executionTimeout: ["90"],
      },
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(3);
    expect(time.sleeps).toEqual([2000, 2000, 2000]);
  });

  it("bounds the output and says when it was cut", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: "Success", ResponseCode: 0, StandardOutputContent: "é".repeat(100) });
    const { provider } = testProvider();
    const result = await provider.runScript(
      { team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0abc" },
      "x",
      {
        timeoutMs: 1000,
        maxOutputBytes: 11,
      },
    );
    expect(result).toEqual({ exitCode: 0, output: "ééééé", truncated: true });
  });

  it("cancels a command that outlives its timeout and answers exit code 124", async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: "InProgress", StandardOutputContent: "working\n" });
    ssm.on(CancelCommandCommand).resolves({});
    const { provider } = testProvider();
    const result = await provider.runScript(
      { team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0abc" },
      "sleep 999",
      {
        timeoutMs: 5_000,
        maxOutputBytes: 1024,
      },
    );
    expect(result.exitCode).toBe(124);
    expect(result.output).toContain("working\n");
    expect(ssm.commandCalls(CancelCommandCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: "cmd-1", InstanceIds: ["i-0abc"] },
    ]);
  });

  it("says when SSM cannot reach the instance (no agent or instance profile)", async () => {
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error("bad"), { name: "InvalidInstanceId" }));
    const { provider } = testProvider();
    await expect(
      provider.runScript({ team: "acme", stackId: "st-1", server: "web", options: WEST, id: "i-0abc" }, "x", {
        timeoutMs: 1000,
        maxOutputBytes: 10,
      }),
    ).rejects.toThrow(/not reachable through SSM .*instanceProfile/);
  });
});

describe("aws provider: waitUntilReady", () => {
  it("reads the exit code the wrapper left, through SSM, once the instance runs", async () => {
    ec2
      .on(DescribeInstancesCommand, { InstanceIds: ["i-0abc"] })
      .resolvesOnce({
        Reservations: [{ Instances: [instance({ InstanceId: "i-0abc", State: { Name: "pending" } })] }],
      })
      .resolves({ Reservations: [{ Instances: [instance({ InstanceId: "i-0abc" })] }] });
    ssm
      .on(SendCommandCommand)
      .resolves({ Command: { CommandId: "probe" } })
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: "Success", ResponseCode: 0, StandardOutputContent: "" })
      .resolves({
        Status: "Success",
        ResponseCode: 0,
        StandardOutputContent: "teamstack-exit-code:2\nE: no such package\n",
      });
    const { provider } = testProvider();
    const result = await provider.waitUntilReady({
      team: "acme",
      stackId: "st-1",
      server: "web",
      options: WEST,
      id: "i-0abc",
    });
    expect(result).toEqual({
      ready: false,
      exitCode: 2,
      reason: "user_data failed on instance i-0abc",
      output: "E: no such package\n",
    });
  });

  it("answers not ready for an instance that is terminated", async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance({ State: { Name: "terminated" } })] }],
    });
    const { provider } = testProvider();
    const result = await provider.waitUntilReady({
      team: "acme",
      stackId: "st-1",
      server: "web",
      options: WEST,
      id: "i-0123456789abcdef0",
    });
    expect(result).toMatchObject({ ready: false, reason: expect.stringContaining("is terminated") });
  });
});
