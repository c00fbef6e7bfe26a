import middy from "@middy/core";
import { markDestroyFailed } from "../../src/pipeline/destroy.ts";
import type { FailureInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/** The MarkDestroyFailed task of the destroy state machine (`${MarkDestroyFailedFunctionArn}`). */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens() };

export const handler = middy<FailureInput>()
  .use(lambdaLogging())
  .handler((event) => markDestroyFailed(deps, event));
