import type { ProviderCatalog } from "./providers.ts";

/**
 * Stop and start: which servers can be stopped and started again. Pure: it reads the providers'
 * declarations (their optional verbs), never a provider.
 */

/** A server that cannot be stopped, and why. */
export interface Unstoppable {
  readonly name: string;
  readonly provider: string;
  /** The verbs its provider lacks (`stop`, `start`). */
  readonly missing: readonly ("stop" | "start")[];
}

/**
 * The servers whose provider cannot stop them and start them again (it lacks the `stop` or the
 * `start` verb), in the order given. A provider the catalog does not know is reported as lacking both.
 */
export function unstoppableServers(
  servers: readonly { readonly name: string; readonly provider: string }[],
  catalog: ProviderCatalog,
): Unstoppable[] {
  const out: Unstoppable[] = [];
  for (const s of servers) {
    const verbs = catalog.lookup(s.provider)?.capabilities.verbs ?? [];
    const missing = (["stop", "start"] as const).filter((v) => !verbs.includes(v));
    if (missing.length > 0) out.push({ name: s.name, provider: s.provider, missing });
  }
  return out;
}

/** "db (subprocess: no start)": the servers of {@link unstoppableServers} in one line. */
export function describeUnstoppable(list: readonly Unstoppable[]): string {
  return list.map((u) => `${u.name} (${u.provider}: no ${u.missing.join(" or ")})`).join(", ");
}
