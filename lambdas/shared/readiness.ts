import { settleReadiness } from "../../src/pipeline/servers.ts";
import type { Readiness, TaskTokens } from "../../src/ports/orchestration.ts";
import type { TaskStore } from "../../src/ports/store.ts";
import type { ProviderSet } from "../../src/providers/provider-set.ts";
import { buildAwsProviderSet } from "./providers.ts";

/**
 * Readiness in AWS, by each provider's declaration: a server whose readiness is `callback` reports
 * itself (POST /callbacks/ready/...), which settles the token, so there is nothing to wait for
 * here; any other (sim: ready after its boot time) is waited for within this invocation.
 */
export function buildAwsReadiness(
  tokens: TaskTokens,
  store: TaskStore,
  providers: ProviderSet = buildAwsProviderSet(store),
): Readiness {
  return {
    async watch({ provider: name, ref, token, mask }) {
      if (providers.catalog.lookup(name)?.capabilities.readiness === "callback") return;
      const result = await providers.provider(name).waitUntilReady(ref);
      await settleReadiness({ tokens }, token, result, mask);
    },
  };
}
