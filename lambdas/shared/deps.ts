import type { PipelineDeps } from "../../src/pipeline/context.ts";
import { buildAwsEvents } from "./events.ts";
import { buildAwsHooks } from "./hooks.ts";
import { buildAwsProviders } from "./providers.ts";
import { buildAwsReadiness } from "./readiness.ts";
import { buildAwsSecrets } from "./secrets.ts";
import { buildAwsExecutions, buildAwsTokens } from "./sfn.ts";
import { buildAwsStore } from "./store.ts";

export { buildAwsProvider } from "./providers.ts";
export { buildAwsStore } from "./store.ts";

/**
 * Every dependency of the task functions in AWS at once: the DynamoDB table named by TABLE_NAME,
 * Step Functions for task tokens and lock holders, Secrets Manager, EventBridge, the providers and
 * the hook runner. A handler does not use this: it builds only the parts its task takes (see
 * lambdas/shared/*.ts), so that its bundle carries no more. Tests and tools use the whole.
 */
export function buildAwsDeps(env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const store = buildAwsStore(env);
  const provider = buildAwsProviders(store, env);
  const tokens = buildAwsTokens();
  return {
    store,
    provider,
    tokens,
    readiness: buildAwsReadiness(tokens, provider("sim")),
    executions: buildAwsExecutions(),
    hooks: buildAwsHooks(store, provider, env),
    events: buildAwsEvents(env),
    secrets: buildAwsSecrets(),
    now: () => new Date(),
  };
}
