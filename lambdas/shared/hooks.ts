import type { ProviderName } from "../../src/core/template.ts";
import { createHookRunner } from "../../src/hooks/runner.ts";
import type { HookRunner } from "../../src/ports/hook.ts";
import type { Provider } from "../../src/ports/provider.ts";
import type { TaskStore } from "../../src/ports/store.ts";
import { optionalEnv } from "./env.ts";

/** The hook runner of the run-hook function: its webhooks pass the egress policy; an operator may allow ranges. */
export function buildAwsHooks(
  store: TaskStore,
  provider: (name: ProviderName) => Provider,
  env: NodeJS.ProcessEnv = process.env,
): HookRunner {
  return createHookRunner({ store, provider, egressAllow: optionalEnv("TEAMSTACK_EGRESS_ALLOW", env) });
}
