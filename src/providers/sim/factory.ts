import type { Provider, ProviderHost } from "../../ports/provider.ts";
import { createSimProvider } from "./sim-provider.ts";

/** The `sim` provider's implementation, loaded by the registry on first use. */

/** Simulated servers, kept in the state directory when there is one (so they hold across processes), else in memory. */
export function create(host: ProviderHost): Provider {
  return createSimProvider({
    ...(host.stateDir !== undefined ? { stateDir: host.stateDir } : {}),
    ...(host.rateBudget ? { budget: host.rateBudget } : {}),
    ...(host.logs ? { logs: host.logs } : {}),
  });
}
