import middy from "@middy/core";
import { type FailureInput, markServerFailed } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The MarkServerFailed task of the state machines (`${MarkServerFailedFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens(), secrets: buildAwsSecrets() };

export const handler = middy<FailureInput>()
  .use(lambdaLogging())
  .handler((event) => markServerFailed(deps, event));
