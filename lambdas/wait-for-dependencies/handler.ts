import middy from "@middy/core";
import { type TokenInput, waitForDependencies } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The WaitForDependencies task of the state machines (`${WaitForDependenciesFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitForDependencies(deps, event));
