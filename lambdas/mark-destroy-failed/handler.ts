import middy from "@middy/core";
import { markDestroyFailed } from "../../src/pipeline/destroy.ts";
import type { FailureInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The MarkDestroyFailed task of the destroy state machine (`${MarkDestroyFailedFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<FailureInput>()
  .use(lambdaLogging())
  .handler((event) => markDestroyFailed(deps, event));
