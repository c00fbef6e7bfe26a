import middy from "@middy/core";
import { markPowerFailed } from "../../src/pipeline/power.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The MarkPowerFailed task of the power state machine (`${MarkPowerFailedFunctionArn}`): records why
 * a server was not stopped or started and fails its dependents' on_start waits. Builds only what
 * the task takes.
 */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens(), secrets: buildAwsSecrets() };

export const handler = middy<Parameters<typeof markPowerFailed>[1]>()
  .use(lambdaLogging())
  .handler((event) => markPowerFailed(deps, event));
