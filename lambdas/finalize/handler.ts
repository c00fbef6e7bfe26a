import middy from "@middy/core";
import { finalize } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The Finalize task of the state machines (`${FinalizeFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof finalize>[1]>()
  .use(lambdaLogging())
  .handler((event) => finalize(deps, event));
