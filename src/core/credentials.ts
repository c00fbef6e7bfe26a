import type { ValueKind } from "./capabilities.ts";
import type { CredentialSchema, ProviderCatalog, ProviderDeclaration } from "./providers.ts";

/**
 * A team's credential for a provider, checked against the provider's credential schema (pure: the
 * API, the CLI and tests call it with the registry's catalog). A body is `{"provider": NAME,
 * ...fields}`; without `provider` it is for the provider whose schema keeps the role reference
 * (aws), as bodies were before credentials were for any provider.
 */

/** The longest value a credential field takes (a PEM certificate chain fits; Secrets Manager takes 64 KB). */
export const MAX_CREDENTIAL_VALUE = 65_536;

/** A credential body that fits its provider's schema, split into what may be stored and what is secret. */
export interface CheckedCredential {
  readonly provider: ProviderDeclaration & { readonly credentials: CredentialSchema };
  /** Non-secret fields given, by name, as text. */
  readonly fields: Readonly<Record<string, string>>;
  /** Secret fields given, by name, as text: for the Secrets port only. */
  readonly secrets: Readonly<Record<string, string>>;
}

export type CredentialCheck =
  | { readonly ok: true; readonly credential: CheckedCredential }
  | { readonly ok: false; readonly problems: readonly string[] };

/** The providers of a catalog that take team credentials, by canonical name. */
export function credentialProviders(catalog: ProviderCatalog): string[] {
  return catalog.declarations.filter((d) => d.credentials !== undefined).map((d) => d.name);
}

/** The provider a credential given without `provider` is for (the one keeping the role reference). */
export function defaultCredentialProvider(catalog: ProviderCatalog): ProviderDeclaration | undefined {
  return catalog.declarations.find((d) => d.credentials?.roleReference === true);
}

function expected(kind: ValueKind): string {
  if ("describe" in kind && kind.describe !== undefined) return kind.describe;
  switch (kind.kind) {
    case "integer":
      return `a whole number from ${kind.min} to ${kind.max}`;
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${kind.values.join(", ")}`;
    default:
      return `a non-empty string of at most ${MAX_CREDENTIAL_VALUE} characters`;
  }
}

/** The field's value as text, or undefined when it does not fit its kind. */
function asText(value: unknown, kind: ValueKind): string | undefined {
  switch (kind.kind) {
    case "integer": {
      const n =
        typeof value === "number"
          ? value
          : typeof value === "string" && /^\d+$/.test(value)
            ? Number(value)
            : Number.NaN;
      return Number.isInteger(n) && n >= kind.min && n <= kind.max ? String(n) : undefined;
    }
    case "boolean":
      return value === true || value === "true"
        ? "true"
        : value === false || value === "false"
          ? "false"
          : undefined;
    case "enum":
      return kind.values.some((v) => String(v) === String(value)) && typeof value !== "object"
        ? String(value)
        : undefined;
    default: {
      if (typeof value !== "string" || value === "" || value.length > MAX_CREDENTIAL_VALUE) return undefined;
      if (kind.kind === "string" && kind.pattern !== undefined && !kind.pattern.test(value)) return undefined;
      return value;
    }
  }
}

/**
 * Checks a credential body against its provider's credential schema: every problem, each naming
 * the field and what was expected (a secret field's value is never repeated).
 */
export function checkCredential(
  catalog: ProviderCatalog,
  body: Readonly<Record<string, unknown>>,
): CredentialCheck {
  const takers = credentialProviders(catalog);
  const named = body.provider;
  let declaration: ProviderDeclaration | undefined;
  if (named === undefined) {
    declaration = defaultCredentialProvider(catalog);
    if (declaration === undefined) {
      return { ok: false, problems: [`field \`provider\` is missing: expected one of ${takers.join(", ")}`] };
    }
  } else if (typeof named !== "string") {
    return {
      ok: false,
      problems: [`field \`provider\`: expected a provider's name (one of ${takers.join(", ")})`],
    };
  } else {
    declaration = catalog.lookup(named);
    if (declaration === undefined) {
      return {
        ok: false,
        problems: [
          `field \`provider\`: \`${named.slice(0, 64)}\` is not a provider; expected one of ${takers.join(", ")}`,
        ],
      };
    }
  }
  const schema = declaration.credentials;
  if (schema === undefined) {
    return {
      ok: false,
      problems: [
        `provider \`${declaration.name}\` takes no team credentials; providers that do: ${takers.join(", ") || "none"}`,
      ],
    };
  }
  const problems: string[] = [];
  const fields: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  const names = Object.keys(schema.fields);
  for (const key of Object.keys(body)) {
    if (key === "provider" || Object.hasOwn(schema.fields, key)) continue;
    problems.push(
      `field \`${key.slice(0, 64)}\`: provider \`${declaration.name}\` has no such credential field; expected ${names.join(", ")}`,
    );
  }
  for (const [key, spec] of Object.entries(schema.fields)) {
    const value = body[key];
    if (value === undefined) {
      if (spec.required === true)
        problems.push(`field \`${key}\` is missing: ${expected(spec.value)} (${spec.doc})`);
      continue;
    }
    const text = asText(value, spec.value);
    if (text === undefined) {
      const shown =
        spec.secret || typeof value !== "string"
          ? ""
          : ` \`${value.slice(0, 80)}\`${value.length > 80 ? "..." : ""}`;
      problems.push(
        `field \`${key}\`${shown}: expected ${expected(spec.value)}${spec.secret ? " (a secret field: its value is not shown)" : ""}`,
      );
      continue;
    }
    if (spec.secret) secrets[key] = text;
    else fields[key] = text;
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    credential: {
      provider: declaration as CheckedCredential["provider"],
      fields,
      secrets,
    },
  };
}
