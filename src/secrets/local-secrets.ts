import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import type { SecretEntry, SecretScope, Secrets } from "../ports/secrets.ts";
import { withLock } from "../providers/local/lock.ts";
import { readJsonFile, writeFileAtomic } from "../shared/state-files.ts";

/**
 * Secrets on one machine: one file under the state directory, each value sealed with AES-256-GCM
 * under a key from TEAMSTACK_SECRETS_KEY (32 bytes, base64 or hex) or, without it, a key made
 * once beside the file with mode 0600. Names are visible (to list them); values are not.
 */

export class SecretsError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.SecretsError;
  }
}

interface Sealed {
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
  readonly updatedAt: string;
}
interface SecretsFile {
  readonly version: 1;
  readonly entries: Record<string, Sealed>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
const SCOPE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/**
 * A credential's secrets sit in the member slot as `#credential:NAME`: no member name has `#` or
 * `:` (SCOPE), so no member's or team's secret can be, or be named as, one of them.
 */
const CREDENTIAL_SLOT = "#credential:";

function entryKey(scope: SecretScope, name: string): string {
  if (scope.credential !== undefined) {
    if (scope.member !== undefined || !SCOPE.test(scope.team) || !SCOPE.test(scope.credential)) {
      throw new SecretsError(
        `invalid team or credential name for a credential's secret: \`${scope.team}\`/\`${scope.credential}\``,
      );
    }
    if (!NAME.test(name)) throw new SecretsError(`invalid credential field name \`${name}\``);
    return `${scope.team}/${CREDENTIAL_SLOT}${scope.credential}/${name}`;
  }
  if (!SCOPE.test(scope.team) || (scope.member !== undefined && !SCOPE.test(scope.member))) {
    throw new SecretsError(
      `invalid team or member name for a secret: \`${scope.team}\`/\`${scope.member ?? ""}\``,
    );
  }
  if (!NAME.test(name)) {
    throw new SecretsError(
      `invalid secret name \`${name}\`: expected a letter or _ followed by letters, digits, _ or -`,
    );
  }
  return `${scope.team}/${scope.member ?? ""}/${name}`;
}

/** The 32-byte key: from the environment when given, else the state directory's own. */
async function secretsKey(dir: string, fromEnv: string | undefined): Promise<Buffer> {
  if (fromEnv !== undefined && fromEnv !== "") {
    const key = /^[0-9a-fA-F]{64}$/.test(fromEnv)
      ? Buffer.from(fromEnv, "hex")
      : Buffer.from(fromEnv, "base64");
    if (key.length !== 32)
      throw new SecretsError("TEAMSTACK_SECRETS_KEY must be 32 bytes, as 64 hex digits or base64");
    return key;
  }
  const file = join(dir, "key");
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, randomBytes(32), { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  await chmod(file, 0o600);
  return readFile(file);
}

export function createLocalSecrets(options: { readonly stateDir: string; readonly key?: string }): Secrets {
  const dir = join(options.stateDir, "secrets");
  const file = join(dir, "secrets.json");
  let key: Promise<Buffer> | undefined;
  const keyOf = () => {
    key ??= secretsKey(dir, options.key);
    return key;
  };
  const load = async (): Promise<SecretsFile> =>
    (await readJsonFile<SecretsFile>(file)) ?? { version: 1, entries: {} };
  const update = (fn: (f: SecretsFile) => SecretsFile | undefined) =>
    withLock(join(dir, ".lock"), "the secrets file", 10_000, async () => {
      const next = fn(await load());
      if (next) {
        await writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`);
        await chmod(file, 0o600);
      }
    });
  return {
    async get(scope, name) {
      const sealed = (await load()).entries[entryKey(scope, name)];
      if (!sealed) return undefined;
      const k = await keyOf();
      try {
        const decipher = createDecipheriv("aes-256-gcm", k, Buffer.from(sealed.iv, "base64"));
        decipher.setAAD(Buffer.from(entryKey(scope, name)));
        decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
        return Buffer.concat([
          decipher.update(Buffer.from(sealed.data, "base64")),
          decipher.final(),
        ]).toString("utf8");
      } catch (error) {
        throw new SecretsError(
          `cannot decrypt secret \`${name}\`: the key is not the one it was stored with (TEAMSTACK_SECRETS_KEY changed?)`,
          { cause: error },
        );
      }
    },
    async exists(scope, name) {
      return Object.hasOwn((await load()).entries, entryKey(scope, name));
    },
    async set(scope, name, value) {
      const k = entryKey(scope, name);
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", await keyOf(), iv);
      // The entry's name is bound to its value: a value moved to another name fails to decrypt.
      cipher.setAAD(Buffer.from(k));
      const data = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
      const sealed: Sealed = {
        iv: iv.toString("base64"),
        tag: cipher.getAuthTag().toString("base64"),
        data: data.toString("base64"),
        updatedAt: new Date().toISOString(),
      };
      await update((f) => ({ version: 1, entries: { ...f.entries, [k]: sealed } }));
    },
    async list(team) {
      const out: SecretEntry[] = [];
      for (const [k, v] of Object.entries((await load()).entries)) {
        const [t, m, name] = k.split("/") as [string, string, string];
        if (team !== undefined && t !== team) continue;
        const slot = m.startsWith(CREDENTIAL_SLOT)
          ? { credential: m.slice(CREDENTIAL_SLOT.length) }
          : m
            ? { member: m }
            : {};
        out.push({ team: t, ...slot, name, updatedAt: v.updatedAt });
      }
      return out.sort((a, b) =>
        `${a.team}/${a.member ?? ""}/${a.name}`.localeCompare(`${b.team}/${b.member ?? ""}/${b.name}`),
      );
    },
    async remove(scope, name) {
      const k = entryKey(scope, name);
      let removed = false;
      await update((f) => {
        if (!Object.hasOwn(f.entries, k)) return undefined;
        removed = true;
        const { [k]: _, ...rest } = f.entries;
        return { version: 1, entries: rest };
      });
      return removed;
    },
  };
}
