import middy from "@middy/core";
import { type TokenInput, waitUntilReady } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The WaitUntilReady task of the state machines (`${WaitUntilReadyFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitUntilReady(deps, event));
