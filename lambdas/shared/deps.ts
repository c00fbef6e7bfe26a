import type { PipelineDeps } from "../../src/pipeline/context.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";
import { createDynamoServerLogs } from "../../src/store/dynamo/server-logs.ts";
import { buildAwsEvents } from "./events.ts";
import { buildAwsHooks } from "./hooks.ts";
import { buildAwsProviderSet } from "./providers.ts";
import { buildAwsReadiness } from "./readiness.ts";
import { buildAwsSchedules } from "./schedules.ts";
import { buildAwsSecrets } from "./secrets.ts";
import { buildAwsExecutions, buildAwsTokens } from "./sfn.ts";
import { awsTable, buildAwsStore } from "./store.ts";

export { buildAwsProviderSet, buildAwsProviders } from "./providers.ts";
export { awsTable, buildAwsStore } from "./store.ts";

/**
 * Every dependency of the task functions in AWS at once: the DynamoDB table named by TABLE_NAME,
 * Step Functions for task tokens and lock holders, Secrets Manager, EventBridge, the registry's
 * providers and the hook runner. A handler does not use this: it builds only the parts its task
 * takes (see lambdas/shared/*.ts), so that its bundle carries no more. Tests and tools use the whole.
 */
export function buildAwsDeps(env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const store = buildAwsStore(env);
  const providers = buildAwsProviderSet(store, env);
  const provider = (name: string) => providers.provider(name);
  const tokens = buildAwsTokens();
  return {
    store,
    provider,
    catalog: PROVIDERS,
    tokens,
    readiness: buildAwsReadiness(tokens, store, providers),
    executions: buildAwsExecutions(),
    hooks: buildAwsHooks(store, provider, env),
    events: buildAwsEvents(env),
    secrets: buildAwsSecrets(),
    now: () => new Date(),
    schedules: buildAwsSchedules(env),
    logs: createDynamoServerLogs(awsTable(env)),
  };
}
