import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { AssumeRoleCommandOutput, STSClient } from "@aws-sdk/client-sts";
import type { CredentialRecord } from "../../ports/store.ts";
import { AwsCredentialError, awsErrorCode, ProviderThrottledError, translateAwsError } from "./errors.ts";
import { loadSts } from "./sdk.ts";

/**
 * A team's AWS credentials for one task: a session of the team's role (STS AssumeRole with the
 * team's ExternalId, named after the stack), or the access keys of the team's secret. Held in memory
 * until shortly before they expire; never stored, never passed through the state machine.
 */

/** The shape the SDK clients take as `credentials` (AwsCredentialIdentity). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface CredentialSourceOptions {
  /** STS in teamstack's own account (the function's role assumes the team's role); made on first use when absent. */
  readonly sts?: STSClient;
  /** Secrets Manager in teamstack's own account, for credentials of kind `keys`. */
  readonly secretsManager: SecretsManagerClient;
  readonly now?: () => number;
  /** Session length asked of STS (default 3600 s, the most a role allows by default). */
  readonly sessionSeconds?: number;
}

/** Sessions are renewed this long before they expire, so no call starts with one about to lapse. */
const RENEW_BEFORE_MS = 5 * 60_000;
/** Access keys from a secret are read again after this long, so a rotated key takes effect. */
const KEYS_TTL_MS = 5 * 60_000;

/** A role session name that names the stack: `teamstack-<stackId>`, in STS's alphabet, at most 64. */
export function sessionNameFor(stackId: string): string {
  return `teamstack-${stackId}`.replace(/[^\w+=,.@-]/g, "-").slice(0, 64);
}

/** What identifies the account a credential acts in, for per-account limits. */
export function accountKeyOf(credential: CredentialRecord): string {
  if (credential.kind === "role") {
    const account = /^arn:[\w-]+:iam::(\d{12}):/.exec(credential.roleArn)?.[1];
    return account ? `account:${account}` : `role:${credential.roleArn}`;
  }
  return `keys:${credential.secretArn}`;
}

interface Cached {
  value: Promise<AwsCredentials>;
  /** Epoch ms after which the entry is renewed. */
  renewAt: number;
}

export class CredentialSource {
  #sts: STSClient | undefined;
  readonly #secrets: SecretsManagerClient;
  readonly #now: () => number;
  readonly #sessionSeconds: number;
  readonly #cache = new Map<string, Cached>();

  constructor(options: CredentialSourceOptions) {
    this.#sts = options.sts;
    this.#secrets = options.secretsManager;
    this.#now = options.now ?? Date.now;
    this.#sessionSeconds = options.sessionSeconds ?? 3600;
  }

  /** A key under which clients made with these credentials may be cached. */
  cacheKey(credential: CredentialRecord, sessionName: string): string {
    return credential.kind === "role"
      ? `role|${credential.roleArn}|${credential.externalId}|${sessionName}`
      : `keys|${credential.secretArn}`;
  }

  /**
   * The credentials for `credential`, from memory while still fresh.
   * @throws AwsCredentialError when the role cannot be assumed or the secret read.
   */
  get(credential: CredentialRecord, sessionName: string): Promise<AwsCredentials> {
    const key = this.cacheKey(credential, sessionName);
    const hit = this.#cache.get(key);
    if (hit && this.#now() < hit.renewAt) return hit.value;
    const entry = { renewAt: Number.POSITIVE_INFINITY } as Cached;
    entry.value = (
      credential.kind === "role" ? this.#assume(credential, sessionName) : this.#keys(credential)
    )
      .then((creds) => {
        entry.renewAt =
          creds.expiration !== undefined
            ? creds.expiration.getTime() - RENEW_BEFORE_MS
            : this.#now() + KEYS_TTL_MS;
        return creds;
      })
      .catch((err: unknown) => {
        // A failure is not remembered: the next task asks again.
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
        throw err;
      });
    if (this.#cache.size >= 256) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(key, entry);
    return entry.value;
  }

  async #assume(
    credential: Extract<CredentialRecord, { kind: "role" }>,
    sessionName: string,
  ): Promise<AwsCredentials> {
    let out: AssumeRoleCommandOutput;
    const { AssumeRoleCommand, STSClient } = await loadSts();
    this.#sts ??= new STSClient({});
    try {
      out = await this.#sts.send(
        new AssumeRoleCommand({
          RoleArn: credential.roleArn,
          ExternalId: credential.externalId,
          RoleSessionName: sessionName,
          DurationSeconds: this.#sessionSeconds,
        }),
      );
    } catch (err) {
      const translated = translateAwsError(err, `STS AssumeRole ${credential.roleArn}`);
      if (translated instanceof ProviderThrottledError) throw translated;
      const { code, message } = awsErrorCode(err);
      throw new AwsCredentialError(
        `cannot assume role ${credential.roleArn} for credential \`${credential.name}\` of team \`${credential.team}\` (${code}: ${message}); the role must trust this deployment's account with the team's ExternalId`,
        { cause: err },
      );
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new AwsCredentialError(`STS AssumeRole ${credential.roleArn} answered without credentials`);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      ...(c.Expiration ? { expiration: new Date(c.Expiration) } : {}),
    };
  }

  async #keys(credential: Extract<CredentialRecord, { kind: "keys" }>): Promise<AwsCredentials> {
    let text: string | undefined;
    try {
      const out = await this.#secrets.send(new GetSecretValueCommand({ SecretId: credential.secretArn }));
      text = out.SecretString;
    } catch (err) {
      const translated = translateAwsError(err, `Secrets Manager GetSecretValue ${credential.secretArn}`);
      if (translated instanceof ProviderThrottledError) throw translated;
      const { code } = awsErrorCode(err);
      throw new AwsCredentialError(
        `cannot read the access keys of credential \`${credential.name}\` of team \`${credential.team}\` from secret ${credential.secretArn} (${code})`,
        { cause: err },
      );
    }
    const keys = parseKeys(text);
    if (!keys) {
      throw new AwsCredentialError(
        `secret ${credential.secretArn} of credential \`${credential.name}\` is not {"accessKeyId": "...", "secretAccessKey": "..."}`,
      );
    }
    return keys;
  }
}

function parseKeys(text: string | undefined): AwsCredentials | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const id = v.accessKeyId ?? v.AccessKeyId;
  const secret = v.secretAccessKey ?? v.SecretAccessKey;
  const token = v.sessionToken ?? v.SessionToken;
  if (typeof id !== "string" || typeof secret !== "string" || id === "" || secret === "") return undefined;
  return {
    accessKeyId: id,
    secretAccessKey: secret,
    ...(typeof token === "string" ? { sessionToken: token } : {}),
  };
}
