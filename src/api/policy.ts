import { type ProviderCatalog, serverSharesHost } from "../core/providers.ts";
import type { ProviderName, ServerSpec } from "../core/template.ts";
import type { TeamPolicyRecord } from "../ports/store.ts";

/**
 * Which providers a stack may use: the team's policy (set by its admins) within what the
 * deployment offers. A team without a policy may use every provider the deployment offers. A
 * provider whose servers run on the machine that serves the API (`sharesHost` in its declaration:
 * `local`) is offered to admins, and to members only when its operator allows it
 * (`teamstack serve --allow-local`). A server a request simulates (`simulate`) is checked as the
 * catalog's simulator: that is where it runs.
 */

/** What the deployment offers, and to whom. */
export interface ProviderOffer {
  /** Every provider the deployment knows (the registry): names, aliases, which share the host. */
  readonly catalog: ProviderCatalog;
  /** Providers that can create servers here (others must be simulated). */
  readonly providers: readonly ProviderName[];
  /** Whether members, not only admins, may use providers that share the host (`--allow-local`). */
  readonly localForMembers: boolean;
}

/** The providers a team's policy allows, and whether that is the default (no policy set). */
export interface EffectivePolicy {
  readonly providers: readonly ProviderName[];
  readonly isDefault: boolean;
}

export function effectivePolicy(offer: ProviderOffer, record: TeamPolicyRecord | undefined): EffectivePolicy {
  if (!record) return { providers: [...offer.providers], isDefault: true };
  return {
    providers: offer.catalog.names.filter((p) => record.providers.includes(p)),
    isDefault: false,
  };
}

function sharesHost(
  offer: ProviderOffer,
  name: ProviderName,
  options?: Readonly<Record<string, unknown>>,
): boolean {
  return serverSharesHost(offer.catalog.lookup(name), options);
}

/** The providers a caller may use now: allowed by the team, offered here, and offered to their role. */
export function usableProviders(
  offer: ProviderOffer,
  policy: EffectivePolicy,
  admin: boolean,
): ProviderName[] {
  // A provider that shares the host only for some servers (docker without a team's Docker host) is
  // usable: each server is checked on its own when a stack is created.
  return policy.providers.filter(
    (p) =>
      offer.providers.includes(p) &&
      (offer.catalog.lookup(p)?.sharesHost !== true || admin || offer.localForMembers),
  );
}

/**
 * Checks a policy's provider list as an admin gave it; returns the canonical names, or every
 * problem ("providers[1]: unknown provider `x`; ...").
 */
export function checkPolicyProviders(
  catalog: ProviderCatalog,
  given: readonly string[],
): { ok: true; providers: ProviderName[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const names = catalog.names;
  const expected =
    names.length > 1
      ? `expected ${names.slice(0, -1).join(", ")} or ${names.at(-1)}`
      : `expected ${names[0] ?? "none"}`;
  given.forEach((name, i) => {
    const canonical = catalog.canonical(name);
    if (canonical === undefined) {
      problems.push(`providers[${i}]: unknown provider \`${name.slice(0, 64)}\`; ${expected}`);
    } else if (canonical !== name) {
      problems.push(
        `providers[${i}]: \`${name}\` is another name for \`${canonical}\`; give \`${canonical}\``,
      );
    } else if (seen.has(name)) {
      problems.push(`providers[${i}]: \`${name}\` is listed twice`);
    }
    seen.add(name);
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, providers: names.filter((p) => seen.has(p)) };
}

/** Why a stack's servers may not run for this caller; empty when they may. */
export interface ProviderRefusals {
  /** Against the team's policy or the caller's role: a 403. */
  readonly forbidden: string[];
  /** Not offered by this deployment at all (`aws` under `teamstack serve`): simulate them. */
  readonly unavailable: ServerSpec[];
}

export function providerRefusals(
  servers: readonly ServerSpec[],
  simulate: readonly string[],
  offer: ProviderOffer,
  policy: EffectivePolicy,
  who: { readonly team: string; readonly admin: boolean },
): ProviderRefusals {
  const forbidden: string[] = [];
  const unavailable: ServerSpec[] = [];
  const simulator = offer.catalog.simulator?.name;
  for (const s of servers) {
    const simulated = simulator !== undefined && simulate.includes(s.provider);
    const runsOn: ProviderName = simulated ? simulator : s.provider;
    const label = `server \`${s.name}\` (${s.provider}${simulated ? `, simulated: runs on ${runsOn}` : ""})`;
    if (!policy.isDefault && !policy.providers.includes(runsOn)) {
      const allowed = policy.providers.length > 0 ? policy.providers.join(", ") : "none";
      forbidden.push(
        `${label}: team \`${who.team}\`'s policy does not allow ${runsOn} (it allows: ${allowed}); a team admin can change it with PUT /teams/${who.team}/policy`,
      );
    } else if (!offer.providers.includes(runsOn)) {
      unavailable.push(s);
    } else if (
      sharesHost(offer, runsOn, simulated ? undefined : s.options) &&
      !who.admin &&
      !offer.localForMembers
    ) {
      forbidden.push(
        `${label}: ${runsOn} servers run on the machine that serves this API, so this server offers them to team admins only (its operator can allow members with \`teamstack serve --allow-local\` on a single-user machine); or pass "simulate": ["${runsOn}"]`,
      );
    }
  }
  return { forbidden, unavailable };
}
