import { canonicalProvider, PROVIDERS, type ProviderName, type ServerSpec } from "../core/template.ts";
import type { TeamPolicyRecord } from "../ports/store.ts";

/**
 * Which providers a stack may use: the team's policy (set by its admins) within what the
 * deployment offers. A team without a policy may use every provider the deployment offers. The
 * `local` provider runs a member's user_data on the machine that serves the API, so `teamstack
 * serve` offers it to admins, and to members only when its operator allows it (`--allow-local`).
 * A server a request puts on sim (`simulate`) is checked as `sim`: that is where it runs.
 */

/** What the deployment offers, and to whom. */
export interface ProviderOffer {
  /** Providers that can create servers here (others must be simulated). */
  readonly providers: readonly ProviderName[];
  /** Whether members, not only admins, may use `local` (`teamstack serve --allow-local`). */
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
    providers: PROVIDERS.filter((p) => record.providers.includes(p)),
    isDefault: false,
  };
}

/** The providers a caller may use now: allowed by the team, offered here, and offered to their role. */
export function usableProviders(
  offer: ProviderOffer,
  policy: EffectivePolicy,
  admin: boolean,
): ProviderName[] {
  return policy.providers.filter(
    (p) => offer.providers.includes(p) && (p !== "local" || admin || offer.localForMembers),
  );
}

/**
 * Checks a policy's provider list as an admin gave it; returns the canonical names, or every
 * problem ("providers[1]: unknown provider `x`; ...").
 */
export function checkPolicyProviders(
  given: readonly string[],
): { ok: true; providers: ProviderName[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const expected = `expected ${PROVIDERS.slice(0, -1).join(", ")} or ${PROVIDERS.at(-1)}`;
  given.forEach((name, i) => {
    const canonical = canonicalProvider(name);
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
  return { ok: true, providers: PROVIDERS.filter((p) => seen.has(p)) };
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
  for (const s of servers) {
    const simulated = simulate.includes(s.provider);
    const runsOn: ProviderName = simulated ? "sim" : s.provider;
    const label = `server \`${s.name}\` (${s.provider}${simulated ? ", simulated: runs on sim" : ""})`;
    if (!policy.isDefault && !policy.providers.includes(runsOn)) {
      const allowed = policy.providers.length > 0 ? policy.providers.join(", ") : "none";
      forbidden.push(
        `${label}: team \`${who.team}\`'s policy does not allow ${runsOn} (it allows: ${allowed}); a team admin can change it with PUT /teams/${who.team}/policy`,
      );
    } else if (!offer.providers.includes(runsOn)) {
      unavailable.push(s);
    } else if (runsOn === "local" && !who.admin && !offer.localForMembers) {
      forbidden.push(
        `${label}: local servers run on the machine that serves this API, so this server offers them to team admins only (its operator can allow members with \`teamstack serve --allow-local\` on a single-user machine); or pass "simulate": ["local"]`,
      );
    }
  }
  return { forbidden, unavailable };
}
