import type { CheckedCredential } from "../core/credentials.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { TeamCredentialRecord, TeamDirectory, TeamListing } from "../ports/store.ts";
import { ProviderRequestError } from "../providers/errors.ts";
import { recordProvider, referenceFields, scopeOf } from "./provider-credentials.ts";

/**
 * Teams' credentials for any provider: registered (secret fields through the Secrets port first,
 * then the record), shown (never a secret value), removed, and handed to providers
 * (ProviderHost.credentials). The API, the CLI and every runtime that makes providers use these.
 */

export interface CredentialDeps {
  readonly store: Pick<TeamDirectory, "putCredential" | "getCredential">;
  /** Absent where no secrets are kept: then only role references can be registered. */
  readonly secrets?: Secrets;
  readonly catalog: ProviderCatalog;
  readonly now?: () => Date;
}

function secretsOf(deps: Pick<CredentialDeps, "secrets">): Secrets {
  if (!deps.secrets) {
    throw new ProviderRequestError(
      "credentials with secret fields need a secrets store, and none is open here",
    );
  }
  return deps.secrets;
}

/** What is shown of a credential: its provider, the names of the fields set, non-secret values only. */
export interface CredentialView {
  readonly name: string;
  readonly provider: string;
  /** The names of every field set, secret ones included, in the order of the provider's schema. */
  readonly fields: string[];
  /** The values of the non-secret fields. */
  readonly values: Record<string, string>;
  /** The names of the secret fields set, sorted (their values are never shown). */
  readonly secretFields: string[];
  readonly updatedAt: string;
}

/** What may be shown of a stored credential. */
export function credentialView(catalog: ProviderCatalog, record: TeamCredentialRecord): CredentialView {
  const provider = recordProvider(catalog, record) ?? "";
  let values: Record<string, string>;
  let secretFields: string[];
  if (record.kind === "fields") {
    values = { ...record.fields };
    secretFields = [...record.secretFields].sort();
  } else {
    const schema = catalog.lookup(provider)?.credentials?.fields ?? {};
    const all = referenceFields(record);
    values = {};
    secretFields = [];
    for (const [k, v] of Object.entries(all)) {
      if (schema[k]?.secret === false) values[k] = v;
      else secretFields.push(k);
    }
    secretFields.sort();
  }
  const set = new Set([...Object.keys(values), ...secretFields]);
  const order = Object.keys(catalog.lookup(provider)?.credentials?.fields ?? {});
  // In the order of the provider's schema, whatever order the record keeps them in.
  const fields = [...order.filter((f) => set.has(f)), ...[...set].filter((f) => !order.includes(f)).sort()];
  return {
    name: record.name,
    provider,
    fields,
    values: Object.fromEntries(fields.flatMap((f) => (values[f] !== undefined ? [[f, values[f]]] : []))),
    secretFields,
    updatedAt: record.updatedAt,
  };
}

/**
 * Registers (or replaces) a team's credential: its secret fields go to the Secrets port first, then
 * the record (which names them); a secret field the replaced credential had and this one lacks is
 * removed last. A failure before the record is written leaves the previous credential in use.
 */
export async function registerCredential(
  deps: CredentialDeps,
  team: string,
  name: string,
  credential: CheckedCredential,
): Promise<CredentialView> {
  const previous = await deps.store.getCredential(team, name);
  const updatedAt = (deps.now?.() ?? new Date()).toISOString();
  const scope = scopeOf(team, name);
  let record: TeamCredentialRecord;
  if (credential.provider.credentials.roleReference === true) {
    const all = { ...credential.fields, ...credential.secrets };
    const { roleArn, externalId, region, instanceProfile } = all;
    if (roleArn === undefined || externalId === undefined || region === undefined) {
      throw new ProviderRequestError(
        `provider \`${credential.provider.name}\` keeps a role reference, which needs roleArn, externalId and region`,
      );
    }
    record = {
      team,
      name,
      kind: "role",
      roleArn,
      externalId,
      region,
      ...(instanceProfile !== undefined ? { instanceProfile } : {}),
      updatedAt,
    };
  } else {
    for (const [field, value] of Object.entries(credential.secrets)) {
      await secretsOf(deps).set(scope, field, value);
    }
    record = {
      kind: "fields",
      team,
      name,
      provider: credential.provider.name,
      fields: { ...credential.fields },
      secretFields: Object.keys(credential.secrets).sort(),
      updatedAt,
    };
  }
  await deps.store.putCredential(record);
  if (previous?.kind === "fields") {
    const kept = record.kind === "fields" ? record.secretFields : [];
    for (const field of previous.secretFields) {
      if (!kept.includes(field)) await secretsOf(deps).remove(scope, field);
    }
  }
  return credentialView(deps.catalog, record);
}

/** Removes a team's credential and its secrets; false when the team has none of that name. */
export async function removeCredential(
  deps: Omit<CredentialDeps, "store"> & {
    readonly store: Pick<TeamDirectory, "getCredential"> & Pick<TeamListing, "removeCredential">;
  },
  team: string,
  name: string,
): Promise<boolean> {
  const previous = await deps.store.getCredential(team, name);
  if (!previous) return false;
  // The record first: a secret left behind by a crash is unreachable, a record without its secret is not.
  await deps.store.removeCredential(team, name);
  if (previous.kind === "fields") {
    for (const field of previous.secretFields) await secretsOf(deps).remove(scopeOf(team, name), field);
  }
  return true;
}

/** The team's credentials as shown, by name. */
export async function listCredentialViews(
  deps: { readonly store: Pick<TeamListing, "listCredentials">; readonly catalog: ProviderCatalog },
  team: string,
): Promise<CredentialView[]> {
  const records = await deps.store.listCredentials(team);
  return records.map((r) => credentialView(deps.catalog, r));
}
