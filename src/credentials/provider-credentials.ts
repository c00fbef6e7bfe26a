import type { ProviderCatalog } from "../core/providers.ts";
import type { ProviderCredential, ProviderCredentials } from "../ports/provider.ts";
import type { SecretScope, Secrets } from "../ports/secrets.ts";
import type { TeamCredentialRecord, TeamDirectory, TeamListing } from "../ports/store.ts";
import { ProviderRequestError } from "../providers/errors.ts";

/**
 * ProviderHost.credentials: teams' credentials as providers read them, with their secret fields.
 * Apart from registering (team-credentials.ts), so that the task functions' bundles carry only this.
 */

/** Where a credential's secret fields are kept in the Secrets port: a scope no template can name. */
export const scopeOf = (team: string, name: string): SecretScope => ({ team, credential: name });

/** The canonical name of the provider a stored credential is for. */
export function recordProvider(catalog: ProviderCatalog, record: TeamCredentialRecord): string | undefined {
  if (record.kind === "fields") return record.provider;
  return catalog.declarations.find((d) => d.credentials?.roleReference)?.name;
}

/** A role reference's fields as its provider's credential schema names them (secret ones included). */
export function referenceFields(
  record: Exclude<TeamCredentialRecord, { kind: "fields" }>,
): Record<string, string> {
  // Everything but the record's own keys: roleArn, externalId (or secretArn), region, instanceProfile.
  const { team: _team, name: _name, kind: _kind, updatedAt: _updatedAt, ...fields } = record;
  return fields as Record<string, string>;
}

/**
 * ProviderHost.credentials over a store and the Secrets port: a team's credential for a provider
 * with its secret fields read now, or the names of the team's credentials for a provider.
 */
export function providerCredentials(deps: {
  readonly store: Pick<TeamDirectory, "getCredential"> & Pick<TeamListing, "listCredentials">;
  readonly secrets: Secrets;
  readonly catalog: ProviderCatalog;
}): ProviderCredentials {
  const { store, secrets, catalog } = deps;
  return {
    async get(team, name, provider): Promise<ProviderCredential | undefined> {
      const canonical = catalog.canonical(provider) ?? provider;
      const record = await store.getCredential(team, name);
      if (!record || recordProvider(catalog, record) !== canonical) return undefined;
      const own = record.kind === "fields";
      const fields: Record<string, string> = own ? { ...record.fields } : referenceFields(record);
      for (const field of own ? record.secretFields : []) {
        const value = await secrets.get(scopeOf(team, name), field);
        if (value === undefined) {
          throw new ProviderRequestError(`credential \`${name}\` lacks its secret \`${field}\``);
        }
        fields[field] = value;
      }
      return { team, name, provider: canonical, fields };
    },
    async list(team, provider) {
      const canonical = catalog.canonical(provider) ?? provider;
      // listCredentials answers them by name already.
      return (await store.listCredentials(team))
        .filter((r) => recordProvider(catalog, r) === canonical)
        .map((r) => r.name);
    },
  };
}
