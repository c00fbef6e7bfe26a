import middy from "@middy/core";
import { prepare, type StackInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The Prepare task of the state machines (`${PrepareFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<StackInput>()
  .use(lambdaLogging())
  .handler((event) => prepare(deps, event));
