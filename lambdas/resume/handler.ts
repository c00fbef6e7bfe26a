import middy from "@middy/core";
import { resume } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The Resume task of the state machines (`${ResumeFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof resume>[1]>()
  .use(lambdaLogging())
  .handler((event) => resume(deps, event));
