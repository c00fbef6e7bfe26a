import middy from "@middy/core";
import { type HookInput, runHook } from "../../src/pipeline/hooks.ts";
import { buildAwsHooks } from "../shared/hooks.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { buildAwsStore } from "../shared/store.ts";

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
  now: () => new Date(),
};

export const handler = middy<HookInput>()
  .use(lambdaLogging())
  .handler((event) => runHook(deps, event));
