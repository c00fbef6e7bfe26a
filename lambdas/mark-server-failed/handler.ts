import middy from "@middy/core";
import { type FailureInput, markServerFailed } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The MarkServerFailed task of the state machines (`${MarkServerFailedFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<FailureInput>()
  .use(lambdaLogging())
  .handler((event) => markServerFailed(deps, event));
