import middy from "@middy/core";
import { checkDestroyed } from "../../src/pipeline/destroy.ts";
import type { RunInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The CheckDestroyed task of the destroy state machine (`${CheckDestroyedFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<RunInput>()
  .use(lambdaLogging())
  .handler((event) => checkDestroyed(deps, event));
