import middy from "@middy/core";
import { type TokenInput, waitUntilReady } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsReadiness } from "../shared/readiness.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The WaitUntilReady task of the state machines (`${WaitUntilReadyFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = {
  store: buildAwsStore(),
  readiness: buildAwsReadiness(buildAwsTokens(), buildAwsStore()),
  secrets: buildAwsSecrets(),
};

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitUntilReady(deps, event));
