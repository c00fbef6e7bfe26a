import { createHash } from "node:crypto";
import type { ProviderCredential } from "../../ports/provider.ts";
import { DEFAULT_ROOT, HOST_KEY_LINE, HOST_NAME, ROOT_PATH, sshDeclaration } from "./declaration.ts";
import { SshHostError } from "./errors.ts";

/**
 * The pure half of the ssh provider: a registered host's fields checked, the host a server goes on,
 * the names of its directory and its `Id`, and host key fingerprints.
 */

/** A registered host, its fields checked. */
export interface SshHost {
  /** The credential's name: what `options.host` and the `Id` name. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Secret: only ever written to an ssh-agent's stdin. */
  readonly privateKey: string;
  readonly hostKey: { readonly type: string; readonly blob: string };
  /** Where servers' directories go: an absolute path or `~/...`. */
  readonly root: string;
}

function field(credential: ProviderCredential, name: string): string | undefined {
  const value = credential.fields[name];
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Checks a registered host's fields against the credential schema.
 * @throws SshHostError naming the field, what it holds (never a secret) and what was expected.
 */
export function parseHost(credential: ProviderCredential): SshHost {
  const where = `ssh host \`${credential.name}\` of team \`${credential.team}\``;
  const problems: string[] = [];
  const schema = sshDeclaration.credentials?.fields ?? {};
  const text = (name: string): string => {
    const value = field(credential, name);
    const spec = schema[name];
    if (value === undefined) {
      if (spec?.required) problems.push(`${name} is missing`);
      return "";
    }
    if (spec?.value.kind === "string" && spec.value.pattern && !spec.value.pattern.test(value)) {
      const shown = spec.secret ? "" : `, found \`${value.slice(0, 80)}\``;
      problems.push(`${name}: expected ${spec.value.describe ?? "a valid value"}${shown}`);
    }
    return value;
  };
  const address = text("address");
  const user = text("user");
  const privateKey = text("privateKey");
  const hostKeyLine = text("hostKey").trim();
  const root = field(credential, "root") === undefined ? DEFAULT_ROOT : text("root");
  if (root.split("/").some((part) => part === ".."))
    problems.push(`root: expected no \`..\`, found \`${root}\``);
  const portText = field(credential, "port") ?? "22";
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    problems.push(`port: expected a whole number from 1 to 65535, found \`${portText.slice(0, 20)}\``);
  }
  if (!HOST_NAME.test(credential.name)) problems.push(`its name is not a valid credential name`);
  if (problems.length > 0) {
    throw new SshHostError(
      `${where} cannot be used: ${problems.join("; ")}; register it again with those fixed`,
    );
  }
  const [type, blob] = hostKeyLine.split(/\s+/) as [string, string];
  return {
    name: credential.name,
    address,
    port,
    user,
    privateKey: privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`,
    hostKey: { type, blob },
    root: ROOT_PATH.test(root) ? root : DEFAULT_ROOT,
  };
}

/** Whether a string is a host key line as the credential takes it. */
export function isHostKeyLine(line: string): boolean {
  return HOST_KEY_LINE.test(line.trim());
}

/**
 * The host a server without `options.host` goes on: rendezvous hashing over the pool, so the same
 * (team, stack, server) always lands on the same host (a retry, a rerun, a destroy whose id was
 * lost), and adding or removing a host moves only the servers of that host.
 */
export function pickHost(
  pool: readonly string[],
  team: string,
  stackId: string,
  server: string,
): string | undefined {
  let best: string | undefined;
  let bestScore = "";
  for (const host of [...pool].sort()) {
    const score = createHash("sha256")
      .update(["ssh-pick", team, stackId, server, host].join("\0"))
      .digest("hex");
    if (best === undefined || score > bestScore) {
      best = host;
      bestScore = score;
    }
  }
  return best;
}

const hex = (...parts: readonly string[]): string =>
  createHash("sha256").update(parts.join("\0")).digest("hex");

/** The prefix of every directory a server ever had on a host (one per creation attempt). */
export function serverPrefix(team: string, stackId: string, server: string): string {
  return `ts-${hex("ssh-server", team, stackId, server).slice(0, 12)}-`;
}

/**
 * The directory of one creation attempt of a server (one idempotency token), under the host's
 * root: also the value of TEAMSTACK_SERVER_ID, the mark its processes carry.
 */
export function attemptDir(team: string, stackId: string, server: string, token: string): string {
  return `${serverPrefix(team, stackId, server)}${hex("ssh-attempt", token).slice(0, 8)}`;
}

const DIR_NAME = /^ts-[0-9a-f]{12}-[0-9a-f]{8}$/;

/** The `Id` artifact: the host's name and the server's directory, so that every verb finds both. */
export function serverId(host: string, dir: string): string {
  return `${host}/${dir}`;
}

/** The host and directory an `Id` names; undefined when it is not an ssh server's id. */
export function parseServerId(id: string): { host: string; dir: string } | undefined {
  const slash = id.indexOf("/");
  if (slash < 0) return undefined;
  const host = id.slice(0, slash);
  const dir = id.slice(slash + 1);
  return HOST_NAME.test(host) && DIR_NAME.test(dir) ? { host, dir } : undefined;
}

/** `SHA256:...` of an OpenSSH public key blob (base64), as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: string): string {
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The signature algorithms a host key of this type is used with (ssh-rsa: SHA-2 only). */
export function hostKeyAlgorithms(type: string): string {
  return type === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : type;
}

/** A word for a POSIX shell, quoted so that it stays one word whatever it holds. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

/**
 * How user_data (or a script) is run: a `#!` line names its interpreter and at most one argument,
 * as the kernel reads it; otherwise bash -e (sh -e on a host without bash), as the local provider.
 */
export function interpreterOf(script: string): readonly string[] {
  if (!script.startsWith("#!")) return [];
  const line = script.slice(2, script.indexOf("\n") < 0 ? undefined : script.indexOf("\n")).trim();
  const space = line.search(/\s/);
  if (line === "") return [];
  return space < 0 ? [line] : [line.slice(0, space), line.slice(space).trim()];
}
