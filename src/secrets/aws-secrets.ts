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

function secretName(scope: SecretScope, name: string): string {
  return `${PREFIX}/${scope.team}/${scope.member ?? TEAM_SLOT}/${name}`;
}

const errorName = (e: unknown) => (e as { name?: string })?.name;

export function createAwsSecrets(client: SecretsManagerClient): Secrets {
  return {
    async get(scope, name) {
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretName(scope, name) }));
        return out.SecretString;
      } catch (error) {
        if (errorName(error) === "ResourceNotFoundException") return undefined;
        throw new SecretsError(`cannot read secret \`${name}\` of team \`${scope.team}\``, { cause: error });
      }
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
          const [, t, slot, name] = (s.Name ?? "").split("/");
          if (!t || !slot || !name) continue;
          out.push({
            team: t,
            ...(slot !== TEAM_SLOT ? { member: slot } : {}),
            name,
            updatedAt: (s.LastChangedDate ?? s.CreatedDate ?? new Date(0)).toISOString(),
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return out;
    },
    async remove(scope, name) {
      try {
        await client.send(
          new DeleteSecretCommand({ SecretId: secretName(scope, name), RecoveryWindowInDays: 7 }),
        );
        return true;
      } catch (error) {
        if (errorName(error) === "ResourceNotFoundException") return false;
        throw new SecretsError(`cannot remove secret \`${name}\` of team \`${scope.team}\``, {
          cause: error,
        });
      }
    },
  };
}
