import type { ValueKind } from "./capabilities.ts";
import { OPTIONAL_VERBS, type ProviderCatalog, type ProviderDeclaration } from "./providers.ts";
import { expectedOf } from "./validate/values.ts";

/**
 * What each provider supports, from its declaration, as plain JSON: what `teamstack providers`
 * prints (and `--json` answers), so that a reader sees what a template may ask of each one.
 */

/** Verbs every provider has (src/ports/provider.ts); the optional ones are in its declaration. */
export const REQUIRED_VERBS = ["create", "waitUntilReady", "runScript", "destroy"] as const;

export interface ProviderInfo {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly summary: string;
  readonly runsIn: readonly string[];
  readonly verbs: { readonly required: readonly string[]; readonly optional: readonly string[] };
  /** Optional verbs it lacks (`stop`, `start`, `shell`). */
  readonly lacks: readonly string[];
  readonly options: readonly {
    readonly name: string;
    readonly kind: ValueKind["kind"];
    readonly expected: string;
    readonly required: boolean;
    readonly doc: string;
  }[];
  readonly sizes: string;
  readonly nativeTypeExample: string;
  readonly readiness: string;
  readonly userDataLimit: { readonly bytes: number; readonly why: string } | null;
  readonly credentials: {
    readonly describe: string;
    readonly fields: readonly {
      readonly name: string;
      readonly secret: boolean;
      readonly required: boolean;
      readonly expected: string;
      readonly doc: string;
    }[];
  } | null;
  readonly simulator: boolean;
}

export function providerInfo(d: ProviderDeclaration): ProviderInfo {
  const c = d.capabilities;
  return {
    name: d.name,
    aliases: [...d.aliases],
    summary: d.summary,
    runsIn: [...d.runsIn],
    verbs: { required: [...REQUIRED_VERBS], optional: [...c.verbs] },
    lacks: OPTIONAL_VERBS.filter((v) => !c.verbs.includes(v)),
    options: Object.entries(c.options).map(([name, spec]) => ({
      name,
      kind: spec.value.kind,
      expected: expectedOf(spec.value),
      required: spec.required === true,
      doc: spec.doc,
    })),
    sizes: c.sizes.describe,
    nativeTypeExample: c.nativeTypeExample,
    readiness: c.readiness,
    userDataLimit: c.userDataLimit ? { bytes: c.userDataLimit.bytes, why: c.userDataLimit.why } : null,
    credentials: d.credentials
      ? {
          describe: d.credentials.describe,
          fields: Object.entries(d.credentials.fields).map(([name, f]) => ({
            name,
            secret: f.secret,
            required: f.required === true,
            expected: expectedOf(f.value),
            doc: f.doc,
          })),
        }
      : null,
    simulator: d.simulator === true,
  };
}

/** Every provider of a catalog, in registry order. */
export function providersInfo(catalog: ProviderCatalog): ProviderInfo[] {
  return catalog.declarations.map(providerInfo);
}

/** Rows of two columns, the first padded to the widest. */
function columns(rows: readonly (readonly [string, string])[], indent: string): string {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(width)}  ${b}\n`).join("");
}

/** The providers as a reader sees them on a terminal: one block each. */
export function providersText(infos: readonly ProviderInfo[]): string {
  return infos
    .map((p) => {
      const rows: [string, string][] = [
        ["aliases", p.aliases.join(", ") || "-"],
        ["runs in", p.runsIn.join(", ") || "-"],
        [
          "verbs",
          `${p.verbs.required.join(", ")}${p.verbs.optional.length > 0 ? `; ${p.verbs.optional.join(", ")}` : ""}${p.lacks.length > 0 ? ` (lacks ${p.lacks.join(", ")})` : ""}`,
        ],
        [
          "readiness",
          p.readiness === "callback" ? "callback (the server reports itself)" : "watch (the runtime waits)",
        ],
        ["type", `native (like ${p.nativeTypeExample}) or a portable size: ${p.sizes}`],
        [
          "user_data",
          p.userDataLimit ? `at most ${p.userDataLimit.bytes} bytes: ${p.userDataLimit.why}` : "no limit",
        ],
      ];
      if (p.options.length === 0) rows.push(["options", "none"]);
      if (!p.credentials) rows.push(["credentials", "none"]);
      let text = `${p.name}${p.simulator ? " (simulator)" : ""}: ${p.summary}\n${columns(rows, "  ")}`;
      if (p.options.length > 0) {
        text += `  options\n${columns(
          p.options.map((o) => [o.name, `${o.expected}${o.required ? ", required" : ""}. ${o.doc}`]),
          "    ",
        )}`;
      }
      if (p.credentials) {
        text += `  credentials: ${p.credentials.describe}\n${columns(
          p.credentials.fields.map((f) => [
            f.name,
            `${[f.required ? "required" : "optional", ...(f.secret ? ["secret"] : [])].join(", ")}: ${f.expected}. ${f.doc}`,
          ]),
          "    ",
        )}`;
      }
      return text;
    })
    .join("\n");
}
