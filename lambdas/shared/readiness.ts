import { settleReadiness } from "../../src/pipeline/servers.ts";
import type { Readiness, TaskTokens } from "../../src/ports/orchestration.ts";
import type { Provider } from "../../src/ports/provider.ts";
import { createSimProvider } from "../../src/providers/sim.ts";

/**
 * Readiness in AWS: an aws instance reports itself (POST /callbacks/ready/...), which settles the
 * token, so there is nothing to wait for here; a sim server is ready after its boot time, waited
 * for within this invocation. Only the sim provider is needed, so this bundles no other.
 */
export function buildAwsReadiness(tokens: TaskTokens, sim: Provider = createSimProvider({})): Readiness {
  return {
    async watch({ provider: name, ref, token, mask }) {
      if (name === "aws") return;
      if (name !== "sim") throw new Error(`no readiness for ${name} servers in this deployment`);
      await settleReadiness({ tokens }, token, await sim.waitUntilReady(ref), mask);
    },
  };
}
