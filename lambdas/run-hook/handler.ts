import middy from "@middy/core";
import { type HookInput, runHook } from "../../src/pipeline/hooks.ts";
import { createDynamoServerLogs } from "../../src/store/dynamo/server-logs.ts";
import { buildAwsHooks } from "../shared/hooks.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { awsTable, buildAwsStore } from "../shared/store.ts";

/**
 * The RunHook task of the state machines (`${RunHookFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const store = buildAwsStore();
const provider = buildAwsProviders(store);
const deps = {
  store,
  hooks: buildAwsHooks(store, provider),
  secrets: buildAwsSecrets(),
  logs: createDynamoServerLogs(awsTable()),
  now: () => new Date(),
};

export const handler = middy<HookInput>()
  .use(lambdaLogging())
  .handler((event) => runHook(deps, event));
