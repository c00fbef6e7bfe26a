import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProviderCredential, ProviderCredentials } from "../../src/ports/provider.ts";

/**
 * A real OpenSSH server for tests: Debian's sshd, started in a network namespace the test makes
 * (`ip netns add`, a veth pair with a /30 of 10.213.0.0/16 picked per run), with its own host key
 * and a login user of its own. The user exists only inside sshd's mount namespace (a copy of
 * /etc/passwd and /etc/group with one more line, bound over them there), so nothing is added to
 * the machine's accounts; its uid is unused on the machine. The namespace shares the machine's
 * files and process table: a test sees the "remote" directories and processes directly.
 */

const SSHD = "/usr/sbin/sshd";
const TOOLS = ["ip", "ssh", "ssh-keygen", "ssh-agent", "ssh-add", "ssh-keyscan", "unshare", "setsid"];

/** Why this machine cannot run the test sshd; undefined when it can. */
export function sshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "they need root (ip netns add, a user of their own)";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  const path = (process.env.PATH ?? "").split(":");
  for (const tool of TOOLS) {
    if (!path.some((dir) => existsSync(join(dir, tool)))) return `${tool} is not on PATH`;
  }
  return undefined;
}

/**
 * Whether ssh tests run here: they do where sshd can run; elsewhere they are skipped with the
 * reason printed, except under CI (which installs openssh-server), where the missing piece fails.
 * @throws Error under CI=true when sshd cannot run.
 */
export function sshdTestsRun(what: string): boolean {
  const why = sshdUnavailable();
  if (why === undefined) return true;
  if (process.env.CI) throw new Error(`${what} cannot run in CI: ${why}`);
  console.warn(`skipping ${what}: ${why}`);
  return false;
}

export interface TestSshd {
  /** The server's address in its namespace (port 22). */
  readonly address: string;
  readonly port: number;
  readonly user: string;
  readonly uid: number;
  readonly home: string;
  /** Its host key as a credential pins it: `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
  /** The login user's private key (OpenSSH form). */
  readonly privateKey: string;
  /** The folder of the server's files (config, keys). */
  readonly dir: string;
  /** The fields of a credential for this host (root: a folder under the user's home). */
  fields(extra?: Readonly<Record<string, string>>): Record<string, string>;
  /** Stops sshd and removes the namespace, the veth pair and the folders; safe to call twice. */
  stop(): Promise<void>;
}

function run(file: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A uid and gid no account of the machine has. */
function freeUid(): number {
  const taken = new Set<number>();
  for (const file of ["/etc/passwd", "/etc/group"]) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const id = Number(line.split(":")[2]);
      if (Number.isInteger(id)) taken.add(id);
    }
  }
  for (;;) {
    const uid = randomInt(61000, 64000);
    if (!taken.has(uid)) return uid;
  }
}

/**
 * Starts a test sshd and waits until it prints that it listens (sshd -e logs to stderr).
 * Everything it made is removed by `stop`, and by this function when it fails half-way.
 */
export async function startSshd(label: string): Promise<TestSshd> {
  const tag = randomBytes(3).toString("hex");
  const netns = `ts-${label.slice(0, 8)}-${tag}`;
  const hostIf = `tsh${tag}`;
  const nsIf = `tsn${tag}`;
  const dir = await mkdtemp(join(tmpdir(), `teamstack-sshd-${label}-`));
  await chmod(dir, 0o755);
  const uid = freeUid();
  const user = `ts${tag}`;
  const home = join(dir, "home");
  let sshd: ChildProcess | undefined;
  let stderr = "";
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (sshd && sshd.exitCode === null && sshd.signalCode === null) {
      const exited = new Promise((resolve) => sshd?.once("exit", resolve));
      sshd.kill("SIGTERM");
      await exited;
    }
    // Processes the user left (a test that failed half-way): they are the test's own.
    await run("pkill", ["-KILL", "-U", String(uid)]).catch(() => undefined);
    await run("ip", ["link", "del", hostIf]).catch(() => undefined);
    await run("ip", ["netns", "del", netns]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(home, { mode: 0o755 });
    await chown(home, uid, uid);
    await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "test-host",
      "-f",
      join(dir, "host_key"),
    ]);
    await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "test-user",
      "-f",
      join(dir, "user_key"),
    ]);
    const hostKey = (await readFile(join(dir, "host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
    const privateKey = await readFile(join(dir, "user_key"), "utf8");
    await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "user_key.pub"), "utf8"), {
      mode: 0o644,
    });
    await writeFile(
      join(dir, "passwd"),
      `${readFileSync("/etc/passwd", "utf8").trimEnd()}\n${user}:*:${uid}:${uid}:teamstack test:${home}:/bin/bash\n`,
      { mode: 0o644 },
    );
    await writeFile(
      join(dir, "group"),
      `${readFileSync("/etc/group", "utf8").trimEnd()}\n${user}:x:${uid}:\n`,
      { mode: 0o644 },
    );
    // A /30 of 10.213.0.0/16 that no interface of this machine has yet (another test's, say).
    let address = "";
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
    await run("ip", ["link", "set", nsIf, "netns", netns]);
    for (let tries = 0; ; tries++) {
      const base = randomInt(0, 16384) * 4;
      const prefix = `10.213.${base >> 8}.`;
      const [mine, theirs] = [`${prefix}${(base & 255) + 1}`, `${prefix}${(base & 255) + 2}`];
      const used = await run("ip", ["-4", "-o", "addr", "show"]);
      if (used.includes(` ${mine}/`) || used.includes(` ${theirs}/`)) continue;
      try {
        await run("ip", ["addr", "add", `${mine}/30`, "dev", hostIf]);
      } catch (err) {
        if (tries > 20) throw err;
        continue;
      }
      address = theirs;
      break;
    }
    await run("ip", ["link", "set", hostIf, "up"]);
    await run("ip", ["netns", "exec", netns, "ip", "addr", "add", `${address}/30`, "dev", nsIf]);
    await run("ip", ["netns", "exec", netns, "ip", "link", "set", nsIf, "up"]);
    await run("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
    await writeFile(
      join(dir, "sshd_config"),
      [
        `ListenAddress ${address}:22`,
        `HostKey ${join(dir, "host_key")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "UseDNS no",
        "PrintMotd no",
        "MaxStartups 100",
        "MaxSessions 100",
        `AllowUsers ${user}`,
        "",
      ].join("\n"),
    );
    // sshd's privilege separation needs this directory (Debian's package makes it at boot).
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    sshd = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group && exec /usr/sbin/sshd -D -e -f "$1/sshd_config"',
        "sshd",
        dir,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const child = sshd;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not listen within 60 s: ${stderr}`)), 60_000);
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
        if (/Server listening on/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited (${code}) before it listened: ${stderr}`));
      });
    });
    // What it logs later (connections) is read and dropped.
    child.stderr?.on("data", () => undefined);
    return {
      address,
      port: 22,
      user,
      uid,
      home,
      hostKey,
      privateKey,
      dir,
      fields: (extra = {}) => ({
        address,
        port: "22",
        user,
        privateKey,
        hostKey,
        root: join(home, "servers"),
        ...extra,
      }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A ProviderCredentials over a fixed set of hosts, for tests that give the provider its host. */
export function fixedCredentials(
  hosts: Readonly<Record<string, Readonly<Record<string, string>>>>,
  team = "test",
): ProviderCredentials & { readonly hosts: Record<string, Readonly<Record<string, string>>> } {
  const table: Record<string, Readonly<Record<string, string>>> = { ...hosts };
  return {
    hosts: table,
    async get(t, name, provider): Promise<ProviderCredential | undefined> {
      const fields = table[name];
      if (t !== team || provider !== "ssh" || !fields) return undefined;
      return { team, name, provider, fields };
    },
    async list(t, provider) {
      return t === team && provider === "ssh" ? Object.keys(table).sort() : [];
    },
  };
}
