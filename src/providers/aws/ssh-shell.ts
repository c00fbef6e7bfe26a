import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Instance } from "@aws-sdk/client-ec2";
import type { EC2InstanceConnectClient } from "@aws-sdk/client-ec2-instance-connect";
import type { ShellCommand } from "../../ports/provider.ts";
import { findExecutable } from "../../shared/find-executable.ts";
import { ProviderRequestError, ServerNotFoundError } from "../errors.ts";
import { firewallPermissions } from "./bootstrap.ts";
import { AwsApiError, awsErrorCode, translateAwsError } from "./errors.ts";
import { loadInstanceConnect } from "./sdk.ts";

/**
 * `teamstack shell` on an aws server: an SSH session with a key made for this one shell.
 *
 * Why SSH: every user has an ssh client (and ssh-keygen); an SSM session would need the
 * session-manager-plugin installed besides. Why not the team's bootstrap key pair: it is one key for
 * every server of the team's credential, so handing it to a member would open every member's
 * servers. Instead EC2 Instance Connect: a fresh ed25519 key pair is made in a private (0700)
 * temporary folder, its public half is pushed to that one instance with SendSSHPublicKey through
 * the team's role (as every other call of the provider), where sshd accepts it for 60 seconds for
 * that one OS user, and the private half is removed when the shell ends (ShellCommand.cleanup).
 *
 * What it needs: the instance running the EC2 Instance Connect agent (Ubuntu 20.04 and later,
 * Amazon Linux 2 and 2023 have it), the team's role allowed ec2-instance-connect:SendSSHPublicKey
 * (infra/team-role.yaml), and port 22 open to the caller: teamstack's security groups let nothing
 * in from outside but the server's `firewall` rules, plus 22/tcp from anywhere when it has
 * `public_keys`.
 */

/** The ssh client and ssh-keygen, found on PATH. */
export interface SshTools {
  readonly ssh: string;
  readonly sshKeygen: string;
}

/** What opening a shell on one instance needs. */
export interface AwsShellTarget {
  readonly stackId: string;
  readonly server: string;
  readonly region: string;
  readonly instance: Instance;
  /** The OS user to log in as. */
  readonly user: string;
  /** EC2 Instance Connect in the instance's region, with the team's credentials. */
  readonly instanceConnect: () => Promise<EC2InstanceConnectClient>;
  /** Where host keys are remembered across shells (per instance id); the temporary folder when absent. */
  readonly knownHostsDir?: string;
}

/** The login user of the image the provider launches without an `ami` option (Ubuntu LTS). */
export const DEFAULT_IMAGE_USER = "ubuntu";

/** How long ssh waits for the TCP connection: the pushed key is accepted for 60 s only. */
const CONNECT_TIMEOUT_S = 20;

/**
 * The usual login user of an image, from its name or description (Amazon's and the
 * distributions' naming); undefined when unknown.
 */
export function loginUserOfImage(image: {
  readonly Name?: string | undefined;
  readonly Description?: string | undefined;
}): string | undefined {
  const text = `${image.Name ?? ""} ${image.Description ?? ""}`.toLowerCase();
  if (/ubuntu/.test(text)) return "ubuntu";
  if (/debian/.test(text)) return "admin";
  if (/fedora/.test(text)) return "fedora";
  if (/\b(al20\d\d|amzn\d*|amazon linux)|rhel|red hat|suse|sles|almalinux/.test(text)) return "ec2-user";
  return undefined;
}

/**
 * Refuses a server whose security groups let no SSH in: teamstack's groups admit from outside only
 * the server's `firewall` rules, and 22/tcp from anywhere when it has `public_keys`.
 * @throws ProviderRequestError saying what to add.
 */
export function requireSshIngress(
  server: string,
  options: {
    readonly firewall: Parameters<typeof firewallPermissions>[0];
    readonly publicKeys: readonly string[];
  },
): void {
  const open = firewallPermissions(options.firewall, options.publicKeys.length > 0).some(
    (p) =>
      p.IpProtocol === "-1" ||
      (p.IpProtocol === "tcp" && (p.FromPort ?? 0) <= 22 && (p.ToPort ?? 65535) >= 22),
  );
  if (!open) {
    throw new ProviderRequestError(
      `server \`${server}\` accepts no SSH connections: teamstack's security groups admit only its firewall rules; add \`firewall: [{ port: 22, from: YOUR_NETWORK_CIDR }]\` to its aws options (or give it public_keys, which opens 22/tcp to everyone) and update the stack`,
    );
  }
}

/**
 * The ssh client and ssh-keygen on `searchPath` (PATH).
 * @throws ProviderRequestError naming what to install.
 */
export async function findSshTools(searchPath: string | undefined = process.env.PATH): Promise<SshTools> {
  const find = (name: string) => findExecutable(name, searchPath);
  const [ssh, sshKeygen] = await Promise.all([find("ssh"), find("ssh-keygen")]);
  const missing = [...(ssh ? [] : ["ssh"]), ...(sshKeygen ? [] : ["ssh-keygen"])];
  if (!ssh || !sshKeygen) {
    throw new ProviderRequestError(
      `teamstack shell reaches aws servers with OpenSSH, and ${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} not on PATH: install the OpenSSH client (Debian and Ubuntu: apt-get install openssh-client; Fedora: dnf install openssh-clients; macOS and Windows 10 and later have it)`,
    );
  }
  return { ssh, sshKeygen };
}

/**
 * The instance's address for SSH (public if it has one, else private) after checking it runs.
 * @throws ProviderRequestError when it is stopped or not running yet; ServerNotFoundError when gone.
 */
export function sshAddressOf(stackId: string, server: string, instance: Instance): string {
  const id = instance.InstanceId ?? "(none)";
  const state = instance.State?.Name ?? "gone";
  if (state === "terminated" || state === "shutting-down") {
    throw new ServerNotFoundError(stackId, server, `instance ${id} is ${state}`);
  }
  if (state === "stopped" || state === "stopping") {
    throw new ProviderRequestError(
      `server \`${server}\` (instance ${id}) is ${state}: start it first (teamstack start ${stackId} ${server})`,
    );
  }
  if (state !== "running") {
    throw new ProviderRequestError(
      `server \`${server}\` (instance ${id}) is ${state}, not running yet; try again shortly`,
    );
  }
  const address = instance.PublicIpAddress || instance.PrivateIpAddress;
  if (!address) throw new AwsApiError(`instance ${id} of server \`${server}\` has no address`, "NoAddress");
  return address;
}

function run(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) {
        reject(
          new ProviderRequestError(
            `${file} ${args[0] ?? ""} failed: ${String(stderr).trim() || err.message}`,
            {
              cause: err,
            },
          ),
        );
      } else resolve();
    });
  });
}

/**
 * Makes a one-time key, pushes it to the instance with EC2 Instance Connect and answers the ssh
 * command that uses it. The key's folder is removed by the command's cleanup, or here when anything
 * fails before the command is answered.
 */
export async function awsShellCommand(
  target: AwsShellTarget,
  tools: SshTools,
  term: string | undefined,
): Promise<ShellCommand> {
  const id = target.instance.InstanceId as string;
  const address = sshAddressOf(target.stackId, target.server, target.instance);
  const dir = await mkdtemp(join(tmpdir(), "teamstack-ssh-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o700);
    const key = join(dir, "id_ed25519");
    await run(tools.sshKeygen, [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      `teamstack shell ${target.stackId}/${target.server}`,
      "-f",
      key,
    ]);
    const publicKey = (await readFile(`${key}.pub`, "utf8")).trim();
    let knownHosts = join(dir, "known_hosts");
    if (target.knownHostsDir) {
      await mkdir(target.knownHostsDir, { recursive: true, mode: 0o700 });
      knownHosts = join(target.knownHostsDir, "known_hosts");
    }
    await pushKey(target, id, publicKey);
    return {
      file: tools.ssh,
      args: [
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        // Host keys are remembered by instance id: a public address changes on start and is reused.
        "-o",
        `HostKeyAlias=${id}`,
        "-o",
        `ConnectTimeout=${CONNECT_TIMEOUT_S}`,
        `${target.user}@${address}`,
      ],
      options: { stdio: "inherit", env: { ...process.env, ...(term ? { TERM: term } : {}) } },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** SendSSHPublicKey for that instance and OS user (accepted by its sshd for 60 s). */
async function pushKey(target: AwsShellTarget, id: string, publicKey: string): Promise<void> {
  const { SendSSHPublicKeyCommand } = await loadInstanceConnect();
  const what = `EC2 Instance Connect SendSSHPublicKey to ${id} (server \`${target.server}\`) in ${target.region}`;
  let success: boolean | undefined;
  try {
    const client = await target.instanceConnect();
    success = (
      await client.send(
        new SendSSHPublicKeyCommand({
          InstanceId: id,
          InstanceOSUser: target.user,
          SSHPublicKey: publicKey,
          ...(target.instance.Placement?.AvailabilityZone
            ? { AvailabilityZone: target.instance.Placement.AvailabilityZone }
            : {}),
        }),
      )
    ).Success;
  } catch (err) {
    const { code, message } = awsErrorCode(err);
    if (code === "AuthException") {
      throw new AwsApiError(
        `${what}: the team's role may not push a key to this instance (${message}); update the role from infra/team-role.yaml (ec2-instance-connect:SendSSHPublicKey on instances tagged teamstack:stack)`,
        code,
        { cause: err },
      );
    }
    if (code === "EC2InstanceStateInvalidException" || code === "EC2InstanceUnavailableException") {
      throw new AwsApiError(
        `${what}: the instance cannot take a key now (${message}); is it running?`,
        code,
        {
          cause: err,
        },
      );
    }
    if (code === "EC2InstanceNotFoundException") {
      throw new ServerNotFoundError(target.stackId, target.server, `instance ${id} was not found`, {
        cause: err,
      });
    }
    throw translateAwsError(err, what);
  }
  if (success === false) throw new AwsApiError(`${what} answered that it did not succeed`, "NoSuccess");
}
