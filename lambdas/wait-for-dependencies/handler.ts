import middy from "@middy/core";
import { type TokenInput, waitForDependencies } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The WaitForDependencies task of the state machines (`${WaitForDependenciesFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens() };

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitForDependencies(deps, event));
