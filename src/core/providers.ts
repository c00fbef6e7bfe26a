import type { FieldSpec, PortableSize } from "./capabilities.ts";
import { ERROR_NAMES } from "./error-names.ts";
import { TeamstackError } from "./errors.ts";

/**
 * What a provider declares about itself: the pure half of a provider module, with no I/O, so that
 * validation, the JSON Schema, the API's patterns, the policy, the wiring and (later) a browser can
 * all read it. The other half, the factory that makes the Provider, lives beside it in the
 * provider's folder and is loaded only where servers are made (src/ports/provider.ts,
 * ProviderModule). The core never imports a provider: it is given a catalog of declarations.
 */

/** Verbs a provider may support beyond the required create, waitUntilReady, runScript and destroy. */
/** `shell`: an interactive shell on a server, opened by `teamstack shell` with the caller's terminal. */
export const OPTIONAL_VERBS = ["stop", "start", "shell"] as const;
export type OptionalVerb = (typeof OPTIONAL_VERBS)[number];

/**
 * How a server's readiness (its user_data finished) reaches the pipeline: `callback`, the server
 * reports it itself (POST /callbacks/ready/..., signed, as cfn-signal does); `watch`, the runtime
 * waits on the provider's waitUntilReady.
 */
export type ReadinessMode = "callback" | "watch";

/**
 * Where a provider can make servers: `lambda`, in the AWS deployment's task functions; `local-runtime`,
 * on one machine (`teamstack up`, `teamstack serve`). Elsewhere its servers must be simulated.
 */
export const RUNTIMES = ["lambda", "local-runtime"] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** A portable size mapped to a provider's own type, or why no offering fits it. */
export type SizeMapping = { readonly type: string } | { readonly problem: string };

export interface ProviderCapabilities {
  /** Provider-native machine types (`t3.micro`), besides portable sizes. */
  readonly nativeType: RegExp;
  readonly nativeTypeExample: string;
  /** How portable sizes (`4gb-ram/40gb-disk`, `2cpu/4gb-ram`) become this provider's offerings. */
  readonly sizes: {
    /** In a sentence, for docs and messages. */
    readonly describe: string;
    /** The offering a size maps to; a problem is reported where the template gives the size. */
    readonly map: (size: PortableSize, written: string) => SizeMapping;
  };
  /** Options a server may give (`options:`), with their kinds and checks. */
  readonly options: Readonly<Record<string, FieldSpec>>;
  /** The largest user_data the provider takes, in UTF-8 bytes before rendering; none when absent. */
  readonly userDataLimit?: {
    readonly bytes: number;
    /** Why, in the user's words ("EC2 takes 16 KB, of which teamstack's wrapper needs 2 KB"). */
    readonly why: string;
  };
  readonly verbs: readonly OptionalVerb[];
  readonly readiness: ReadinessMode;
}

/** One field of a credential a team registers for the provider. */
export interface CredentialField extends FieldSpec {
  /** Kept, never shown again (an ExternalId, a key): answers and logs leave it out. */
  readonly secret: boolean;
}

/** What a team registers so that the provider can act in the team's own account. */
export interface CredentialSchema {
  /** What the credential is, in a sentence. */
  readonly describe: string;
  readonly fields: Readonly<Record<string, CredentialField>>;
  /**
   * Kept as the store's role reference (every field in the record, as credentials were kept
   * before they were for any provider) rather than with its secret fields through the Secrets
   * port; and the provider a credential registered without `provider` is for (the first that
   * says so: aws, whose ExternalId is an identifier its trust policy checks, not key material;
   * answers still leave it out).
   */
  readonly roleReference?: true;
}

/**
 * An IAM statement the AWS deployment grants to the task functions that act through the provider.
 * `{partition}` in a resource stands for the deployment's partition.
 */
export interface DeploymentGrant {
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  /** Why the grant is as wide as it is (recorded for cdk-nag when a resource has a wildcard). */
  readonly reason: string;
}

export interface ProviderDeclaration {
  /** The name templates use (`provider: NAME`); letters, digits and `-`. */
  readonly name: string;
  /**
   * Other names templates may use for it (`localhost` for `local`); an alias may hold one `/`
   * (`virtualbox/localhost`, as the seed writes it).
   */
  readonly aliases: readonly string[];
  /** What its servers are, in a sentence. */
  readonly summary: string;
  readonly capabilities: ProviderCapabilities;
  /** Present when teams register credentials for it. */
  readonly credentials?: CredentialSchema;
  readonly runsIn: readonly Runtime[];
  /**
   * Its servers run on the machine that runs teamstack: the API offers it to a team's admins, and
   * to members only when the operator allows it (`teamstack serve --allow-local`). A function says
   * so per server, from its options (docker: a server with no `credential` runs on this machine's
   * own engine; one with a team's Docker host does not).
   */
  readonly sharesHost?: boolean | ((options: Readonly<Record<string, unknown>>) => boolean);
  /**
   * The provider simulated servers run on (`simulate`, `--simulate`): servers that exist only as
   * records. A catalog has at most one.
   */
  readonly simulator?: boolean;
  /** What the AWS deployment grants the functions that act through it (when it runs in `lambda`). */
  readonly deployment?: {
    readonly grants?: readonly DeploymentGrant[];
    /** It reads teams' credential secrets (kept below `teamstack/` in Secrets Manager). */
    readonly readsCredentialSecrets?: boolean;
  };
}

/** A set of provider declarations that cannot be used together (two share a name). */
export class ProviderCatalogError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ProviderCatalogError;
  }
}

/** The providers a validator, a schema or a runtime knows: declarations, looked up by name or alias. */
export interface ProviderCatalog {
  readonly declarations: readonly ProviderDeclaration[];
  /** Canonical names, in registry order. */
  readonly names: readonly string[];
  /** Alias to canonical name. */
  readonly aliases: ReadonlyMap<string, string>;
  /** The declaration a name or alias stands for, or undefined. */
  lookup(name: string): ProviderDeclaration | undefined;
  /** The canonical name a name or alias stands for (`localhost` → `local`), or undefined. */
  canonical(name: string): string | undefined;
  /** The provider simulated servers run on, if the catalog has one. */
  readonly simulator: ProviderDeclaration | undefined;
}

const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** An alias may hold one `/` between two such names: the seed's `virtualbox/localhost`. */
const ALIAS_NAME = /^[a-z][a-z0-9-]{0,31}(?:\/[a-z][a-z0-9-]{0,31})?$/;

/**
 * A catalog of declarations, checked: names and aliases well formed and unique, one simulator at most.
 * @throws ProviderCatalogError naming the clash.
 */
export function providerCatalog(declarations: readonly ProviderDeclaration[]): ProviderCatalog {
  const byName = new Map<string, ProviderDeclaration>();
  const aliases = new Map<string, string>();
  const taken = (name: string) => byName.has(name) || aliases.has(name);
  for (const d of declarations) {
    for (const name of [d.name, ...d.aliases]) {
      if (!(name === d.name ? PROVIDER_NAME : ALIAS_NAME).test(name)) {
        throw new ProviderCatalogError(
          `provider name \`${name}\`: expected a lowercase letter, then letters, digits or - (at most 32)`,
        );
      }
      if (taken(name)) {
        throw new ProviderCatalogError(
          `provider name \`${name}\` is declared twice; names and aliases must be unique`,
        );
      }
      if (name === d.name) byName.set(name, d);
      else aliases.set(name, d.name);
    }
  }
  const simulators = declarations.filter((d) => d.simulator === true);
  if (simulators.length > 1) {
    throw new ProviderCatalogError(
      `providers ${simulators.map((d) => `\`${d.name}\``).join(" and ")} both declare themselves the simulator; at most one may`,
    );
  }
  const canonical = (name: string): string | undefined => (byName.has(name) ? name : aliases.get(name));
  return {
    declarations: [...declarations],
    names: declarations.map((d) => d.name),
    aliases,
    lookup: (name) => {
      const c = canonical(name);
      return c === undefined ? undefined : byName.get(c);
    },
    canonical,
    simulator: simulators[0],
  };
}

/** The names of a catalog's providers that run in `runtime`. */
export function providersIn(catalog: ProviderCatalog, runtime: Runtime): string[] {
  return catalog.declarations.filter((d) => d.runsIn.includes(runtime)).map((d) => d.name);
}

/**
 * Whether a server with these options runs on the machine that runs teamstack (see
 * `ProviderDeclaration.sharesHost`). Without options: whether any of its servers may.
 */
export function serverSharesHost(
  declaration: ProviderDeclaration | undefined,
  options?: Readonly<Record<string, unknown>>,
): boolean {
  const shares = declaration?.sharesHost;
  if (typeof shares === "function") return options === undefined ? true : shares(options);
  return shares === true;
}
