import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeImagesCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from "@aws-sdk/client-ec2-instance-connect";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ShellCommand } from "../../../../src/ports/provider.ts";
import { AwsApiError } from "../../../../src/providers/aws/errors.ts";
import { loginUserOfImage } from "../../../../src/providers/aws/ssh-shell.ts";
import { ProviderRequestError, ServerNotFoundError } from "../../../../src/providers/errors.ts";
import { EXTERNAL_ID, ec2, instance, ROLE_ARN, resetMocks, SESSION, sts, testProvider } from "./support.ts";

// `teamstack shell` on aws servers at the SDK boundary: a one-time key made by the real ssh-keygen,
// pushed with EC2 Instance Connect's SendSSHPublicKey through the team's role, the instance's
// address from DescribeInstances, and the ssh command that uses the key; cleanup removes it.

const instanceConnect = mockClient(EC2InstanceConnectClient);

const ID = "i-0abc";
const SSH_OPTIONS = { region: "us-west-2", public_keys: ["ssh-ed25519 AAAAC3Nza member@laptop"] };
const REF = { team: "acme", stackId: "st-1", server: "web", options: SSH_OPTIONS, id: ID };

/** The machine's OpenSSH, which the tests run for real. */
const SSH_DIR = (() => {
  const file = execFileSync("sh", ["-c", "command -v ssh-keygen"], { encoding: "utf8" }).trim();
  return file.slice(0, file.lastIndexOf("/"));
})();

/** Temporary folders go under this one, so a test sees every key folder a shell made. */
const TMP = mkdtempSync(join(tmpdir(), "aws-shell-test-"));
const savedTmp = process.env.TMPDIR;

function describes(overrides: Parameters<typeof instance>[0] = {}): void {
  ec2.on(DescribeInstancesCommand, { InstanceIds: [ID] }).resolves({
    Reservations: [
      {
        Instances: [
          instance({
            InstanceId: ID,
            ImageId: "ami-0abc1234def567890",
            Placement: { AvailabilityZone: "us-west-2b" },
            ...overrides,
          }),
        ],
      },
    ],
  });
}

function keyFolders(): string[] {
  return readdirSync(TMP).filter((f) => f.startsWith("teamstack-ssh-"));
}

/** The value of an `-o NAME=VALUE` or `-i VALUE` argument. */
function arg(command: ShellCommand, name: string): string | undefined {
  const args = command.args;
  if (name === "-i") return args[args.indexOf("-i") + 1];
  return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

beforeEach(() => {
  resetMocks();
  instanceConnect.reset();
  instanceConnect.on(SendSSHPublicKeyCommand).resolves({ Success: true, RequestId: "r-1" });
  process.env.TMPDIR = TMP;
});

afterEach(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
});

afterAll(() => {
  rmSync(TMP, { recursive: true, force: true });
});

describe("aws provider: shell", () => {
  it("pushes a fresh ed25519 public key for the image's user to that instance through the team's role", async () => {
    describes();
    const { provider, targets } = testProvider();
    const command = (await provider.shell?.(REF, "xterm-256color")) as ShellCommand;
    try {
      const calls = instanceConnect.commandCalls(SendSSHPublicKeyCommand);
      expect(calls).toHaveLength(1);
      const key = arg(command, "-i") as string;
      const publicKey = readFileSync(`${key}.pub`, "utf8").trim();
      expect(publicKey).toMatch(/^ssh-ed25519 \S+ teamstack shell st-1\/web$/);
      expect(calls[0]?.args[0].input).toEqual({
        InstanceId: ID,
        InstanceOSUser: "ubuntu",
        SSHPublicKey: publicKey,
        AvailabilityZone: "us-west-2b",
      });
      // The private key is the pair of what was pushed.
      const derived = execFileSync(join(SSH_DIR, "ssh-keygen"), ["-y", "-f", key], { encoding: "utf8" });
      expect(derived.split(" ").slice(0, 2)).toEqual(publicKey.split(" ").slice(0, 2));
      // Through the team's role, in the server's region.
      const client = calls[0]?.thisValue as EC2InstanceConnectClient;
      expect(await client.config.region()).toBe("us-west-2");
      const creds = await client.config.credentials();
      expect(creds.accessKeyId).toBe(SESSION.AccessKeyId);
      expect(creds.sessionToken).toBe(SESSION.SessionToken);
      expect(sts.commandCalls(AssumeRoleCommand)[0]?.args[0].input).toMatchObject({
        RoleArn: ROLE_ARN,
        ExternalId: EXTERNAL_ID,
        RoleSessionName: "teamstack-st-1",
      });
      expect(targets.at(-1)?.region).toBe("us-west-2");
    } finally {
      await command.cleanup?.();
    }
  });

  it("answers ssh with only that key, to the public address, host keys remembered by instance id", async () => {
    describes();
    const { provider } = testProvider();
    const command = (await provider.shell?.(REF, "xterm-256color")) as ShellCommand;
    try {
      const key = arg(command, "-i") as string;
      const dir = key.slice(0, key.lastIndexOf("/"));
      expect(command.file).toBe(join(SSH_DIR, "ssh"));
      expect(command.args).toEqual([
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        `UserKnownHostsFile=${join(dir, "known_hosts")}`,
        "-o",
        `HostKeyAlias=${ID}`,
        "-o",
        "ConnectTimeout=20",
        "ubuntu@203.0.113.10",
      ]);
      expect(dir.startsWith(join(TMP, "teamstack-ssh-"))).toBe(true);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(readFileSync(key, "utf8")).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
      // The machine's ssh reads them as meant (-G prints its configuration and connects to nothing).
      const config = execFileSync(command.file, ["-G", "-F", "/dev/null", ...command.args], {
        encoding: "utf8",
      });
      const setting = (name: string) =>
        config
          .split("\n")
          .find((l) => l.startsWith(`${name} `))
          ?.slice(name.length + 1);
      expect(setting("user")).toBe("ubuntu");
      expect(setting("hostname")).toBe("203.0.113.10");
      expect(setting("identityfile")).toBe(key);
      expect(setting("identitiesonly")).toBe("yes");
      expect(setting("stricthostkeychecking")).toBe("accept-new");
      expect(setting("userknownhostsfile")).toBe(join(dir, "known_hosts"));
      expect(setting("hostkeyalias")).toBe(ID);
      expect(setting("connecttimeout")).toBe("20");
      expect(command.options.stdio).toBe("inherit");
      expect(command.options.env?.TERM).toBe("xterm-256color");
    } finally {
      await command.cleanup?.();
    }
  });

  it("cleanup removes the key and its folder, and may run twice", async () => {
    describes();
    const { provider } = testProvider();
    const command = (await provider.shell?.(REF, undefined)) as ShellCommand;
    const key = arg(command, "-i") as string;
    expect(keyFolders()).toHaveLength(1);
    await command.cleanup?.();
    expect(() => statSync(key)).toThrow(/ENOENT/);
    expect(keyFolders()).toEqual([]);
    await command.cleanup?.();
  });

  it("goes to the private address when there is no public one, as the server's ssh_user, remembering host keys in the state dir", async () => {
    describes({ PublicIpAddress: undefined, PublicDnsName: "" });
    const hosts = join(TMP, "state", "aws-ssh");
    const { provider } = testProvider({ knownHostsDir: hosts });
    const ref = { ...REF, options: { ...SSH_OPTIONS, ssh_user: "deploy" } };
    const command = (await provider.shell?.(ref, undefined)) as ShellCommand;
    try {
      expect(command.args.at(-1)).toBe("deploy@10.77.0.10");
      expect(arg(command, "UserKnownHostsFile")).toBe(join(hosts, "known_hosts"));
      expect(statSync(hosts).mode & 0o777).toBe(0o700);
      expect(instanceConnect.commandCalls(SendSSHPublicKeyCommand)[0]?.args[0].input.InstanceOSUser).toBe(
        "deploy",
      );
    } finally {
      await command.cleanup?.();
    }
    // The state dir's known_hosts stays; only the key goes.
    expect(statSync(hosts).isDirectory()).toBe(true);
  });

  it("takes the login user of a named image from the image's name, and asks for ssh_user when it does not know it", async () => {
    describes({ ImageId: "ami-0aaaa1111bbbb2222" });
    ec2.on(DescribeImagesCommand, { ImageIds: ["ami-0aaaa1111bbbb2222"] }).resolves({
      Images: [{ ImageId: "ami-0aaaa1111bbbb2222", Name: "al2023-ami-2023.6.20250115.0-kernel-6.1-x86_64" }],
    });
    const { provider } = testProvider();
    const ref = { ...REF, options: { ...SSH_OPTIONS, ami: "ami-0aaaa1111bbbb2222" } };
    const command = (await provider.shell?.(ref, undefined)) as ShellCommand;
    await command.cleanup?.();
    expect(command.args.at(-1)).toBe("ec2-user@203.0.113.10");

    ec2
      .on(DescribeImagesCommand, { ImageIds: ["ami-0aaaa1111bbbb2222"] })
      .resolves({ Images: [{ ImageId: "ami-0aaaa1111bbbb2222", Name: "acme-golden-7" }] });
    const error = await provider.shell?.(ref, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect((error as Error).message).toMatch(
      /image ami-0aaaa1111bbbb2222 \(acme-golden-7\).*set its ssh_user option/,
    );
    expect(keyFolders()).toEqual([]);
  });

  it("knows the usual users of common images", () => {
    expect(
      loginUserOfImage({ Name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115" }),
    ).toBe("ubuntu");
    expect(loginUserOfImage({ Name: "amzn2-ami-kernel-5.10-hvm-2.0.20250108.0-x86_64-gp2" })).toBe(
      "ec2-user",
    );
    expect(loginUserOfImage({ Name: "debian-12-amd64-20250112-1990" })).toBe("admin");
    expect(loginUserOfImage({ Name: "RHEL-9.5.0_HVM-20241211-x86_64-0-Hourly2-GP3" })).toBe("ec2-user");
    expect(loginUserOfImage({ Name: "Fedora-Cloud-Base-41-1.4.x86_64-hvm-us-east-1-gp3-0" })).toBe("fedora");
    expect(loginUserOfImage({ Name: "my-image" })).toBeUndefined();
  });

  it("refuses a stopped instance, saying to start it, and pushes nothing", async () => {
    describes({ State: { Name: "stopped" }, PublicIpAddress: undefined });
    const { provider } = testProvider();
    const error = await provider.shell?.(REF, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect((error as Error).message).toBe(
      "server `web` (instance i-0abc) is stopped: start it first (teamstack start st-1 web)",
    );
    expect(instanceConnect.commandCalls(SendSSHPublicKeyCommand)).toHaveLength(0);
    expect(keyFolders()).toEqual([]);
  });

  it("refuses a terminated instance as gone", async () => {
    describes({ State: { Name: "terminated" } });
    const { provider } = testProvider();
    await expect(provider.shell?.(REF, undefined)).rejects.toThrow(ServerNotFoundError);
    expect(instanceConnect.commandCalls(SendSSHPublicKeyCommand)).toHaveLength(0);
  });

  it("names what to install when ssh or ssh-keygen is missing, before any AWS call", async () => {
    const onlyKeygen = join(TMP, "only-keygen");
    mkdirSync(onlyKeygen, { recursive: true });
    symlinkSync(join(SSH_DIR, "ssh-keygen"), join(onlyKeygen, "ssh-keygen"));
    describes();
    const missingSsh = await testProvider({ sshSearchPath: onlyKeygen })
      .provider.shell?.(REF, undefined)
      .catch((e: unknown) => e);
    expect(missingSsh).toBeInstanceOf(ProviderRequestError);
    expect((missingSsh as Error).message).toMatch(
      /ssh is not on PATH: install the OpenSSH client \(.*openssh-client/,
    );
    const empty = join(TMP, "empty");
    mkdirSync(empty, { recursive: true });
    await expect(testProvider({ sshSearchPath: empty }).provider.shell?.(REF, undefined)).rejects.toThrow(
      /ssh and ssh-keygen are not on PATH/,
    );
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });

  it("refuses a server whose security groups let no SSH in, saying which firewall rule to add", async () => {
    describes();
    const { provider } = testProvider();
    const closed = { ...REF, options: { region: "us-west-2" } };
    await expect(provider.shell?.(closed, undefined)).rejects.toThrow(
      /accepts no SSH connections.*firewall: \[\{ port: 22, from: YOUR_NETWORK_CIDR \}\]/,
    );
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    // A rule of its own for port 22 (or a range holding it) lets SSH in.
    const ruled = {
      ...REF,
      options: { region: "us-west-2", firewall: [{ port: "20-30", from: "10.0.0.0/8" }] },
    };
    const command = (await provider.shell?.(ruled, undefined)) as ShellCommand;
    await command.cleanup?.();
    expect(command.args.at(-1)).toBe("ubuntu@203.0.113.10");
  });

  it("says the role needs ec2-instance-connect:SendSSHPublicKey when Instance Connect refuses it, and leaves no key behind", async () => {
    describes();
    instanceConnect
      .on(SendSSHPublicKeyCommand)
      .rejects(Object.assign(new Error("User is not authorized"), { name: "AuthException" }));
    const { provider } = testProvider();
    const error = await provider.shell?.(REF, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsApiError);
    expect((error as AwsApiError).code).toBe("AuthException");
    expect((error as Error).message).toMatch(
      /SendSSHPublicKey to i-0abc \(server `web`\) in us-west-2: the team's role may not push a key.*ec2-instance-connect:SendSSHPublicKey/,
    );
    expect(keyFolders()).toEqual([]);
  });
});
