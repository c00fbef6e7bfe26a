import middy from "@middy/core";
import { onFailure } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The OnFailure task of the state machines (`${OnFailureFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof onFailure>[1]>()
  .use(lambdaLogging())
  .handler((event) => onFailure(deps, event));
