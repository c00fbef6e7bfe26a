import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { SecretEntry, SecretScope, Secrets } from "../ports/secrets.ts";
import { SecretsError } from "./local-secrets.ts";

/**
 * Secrets in AWS Secrets Manager, one secret each, named `teamstack/TEAM/MEMBER/NAME` (`_team` for
 * a team secret) and tagged with the team, so IAM can scope a function to a team's prefix.
 */
const PREFIX = "teamstack";
const TEAM_SLOT = "_team";
/**
 * A credential's secret fields: `teamstack/TEAM/_credential/NAME/FIELD`, one level deeper than a
 * member's secret, so that no team or member secret is one of them.
 */
const CREDENTIAL_SLOT = "_credential";

function secretName(scope: SecretScope, name: string): string {
  const slot =
    scope.credential !== undefined ? `${CREDENTIAL_SLOT}/${scope.credential}` : (scope.member ?? TEAM_SLOT);
  return `${PREFIX}/${scope.team}/${slot}/${name}`;
}

const errorName = (e: unknown) => (e as { name?: string })?.name;

/** How long a value read is used again, by default (as Powertools' parameters utility). */
export const DEFAULT_SECRETS_MAX_AGE_SECONDS = 5;

export interface AwsSecretsOptions {
  /**
   * Seconds a value read (or found missing) is used again before it is read anew; 0 reads every
   * time. Default {@link DEFAULT_SECRETS_MAX_AGE_SECONDS}.
   */
  readonly maxAge?: number;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

interface Cached {
  readonly value: Promise<string | undefined>;
  readonly until: number;
}

/**
 * Secrets Manager behind the Secrets port. Values are cached per container (the adapter is built
 * once per cold start) for `maxAge` seconds, as Powertools' parameters utility does, so the tasks of
 * a 1,000-server stack do not read the same secrets on every call:
 * - a missing secret is cached too: every task looks up each secret the template's hooks may use
 *   (to mask them), and a team that has not set one would otherwise pay one failed read per secret
 *   per task; a value set meanwhile is seen at most `maxAge` later, as a changed value is;
 * - a failed read (throttled, refused, unreachable) is not cached: the next call reads again;
 * - `set` and `remove` through this adapter drop the entry once they are done;
 * - concurrent reads of one secret share one call, and entries past their age are dropped, so a
 *   value is not kept in memory longer than it may be used.
 */
export function createAwsSecrets(client: SecretsManagerClient, options: AwsSecretsOptions = {}): Secrets {
  const maxAgeMs = (options.maxAge ?? DEFAULT_SECRETS_MAX_AGE_SECONDS) * 1000;
  const now = options.now ?? Date.now;
  if (!(maxAgeMs >= 0)) {
    throw new SecretsError(`maxAge \`${options.maxAge}\`: expected a number of seconds, 0 or more`);
  }
  const cache = new Map<string, Cached>();

  function dropExpired(at: number): void {
    for (const [id, entry] of cache) if (entry.until <= at) cache.delete(id);
  }

  async function read(id: string, scope: SecretScope, name: string): Promise<string | undefined> {
    try {
      const out = await client.send(new GetSecretValueCommand({ SecretId: id }));
      return out.SecretString;
    } catch (error) {
      if (errorName(error) === "ResourceNotFoundException") return undefined;
      throw new SecretsError(`cannot read secret \`${name}\` of team \`${scope.team}\``, { cause: error });
    }
  }

  async function write(id: string, scope: SecretScope, name: string, value: string): Promise<void> {
    try {
      await client.send(new PutSecretValueCommand({ SecretId: id, SecretString: value }));
    } catch (error) {
      if (errorName(error) !== "ResourceNotFoundException") {
        throw new SecretsError(`cannot store secret \`${name}\` of team \`${scope.team}\``, {
          cause: error,
        });
      }
      await client.send(
        new CreateSecretCommand({
          Name: id,
          SecretString: value,
          Tags: [{ Key: "teamstack:team", Value: scope.team }],
        }),
      );
    }
  }

  return {
    get(scope, name) {
      const id = secretName(scope, name);
      if (maxAgeMs === 0) return read(id, scope, name);
      const at = now();
      const hit = cache.get(id);
      if (hit && hit.until > at) return hit.value;
      dropExpired(at);
      const value = read(id, scope, name);
      const entry = { value, until: at + maxAgeMs };
      cache.set(id, entry);
      value.catch(() => {
        if (cache.get(id) === entry) cache.delete(id);
      });
      return value;
    },
    async exists(scope, name) {
      try {
        await client.send(new DescribeSecretCommand({ SecretId: secretName(scope, name) }));
        return true;
      } catch (error) {
        if (errorName(error) === "ResourceNotFoundException") return false;
        throw new SecretsError(`cannot look up secret \`${name}\` of team \`${scope.team}\``, {
          cause: error,
        });
      }
    },
    async set(scope, name, value) {
      const id = secretName(scope, name);
      try {
        await write(id, scope, name, value);
      } finally {
        // The next read reads anew, whatever a read during the write cached.
        cache.delete(id);
      }
    },
    async list(team) {
      const out: SecretEntry[] = [];
      let NextToken: string | undefined;
      do {
        const page = await client.send(
          new ListSecretsCommand({
            Filters: [{ Key: "name", Values: [team ? `${PREFIX}/${team}/` : `${PREFIX}/`] }],
            ...(NextToken ? { NextToken } : {}),
          }),
        );
        for (const s of page.SecretList ?? []) {
          // teamstack/TEAM/SLOT/NAME, or teamstack/TEAM/_credential/CREDENTIAL/FIELD.
          const [, t, slot, name, field] = (s.Name ?? "").split("/");
          if (!t || !slot || !name) continue;
          out.push({
            team: t,
            // Only a credential's secrets are five parts deep.
            ...(field ? { credential: name } : slot !== TEAM_SLOT ? { member: slot } : {}),
            name: field ?? name,
            updatedAt: (s.LastChangedDate ?? s.CreatedDate ?? new Date(0)).toISOString(),
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return out;
    },
    async remove(scope, name) {
      const id = secretName(scope, name);
      try {
        await client.send(new DeleteSecretCommand({ SecretId: id, RecoveryWindowInDays: 7 }));
        return true;
      } catch (error) {
        if (errorName(error) === "ResourceNotFoundException") return false;
        throw new SecretsError(`cannot remove secret \`${name}\` of team \`${scope.team}\``, {
          cause: error,
        });
      } finally {
        cache.delete(id);
      }
    },
  };
}
