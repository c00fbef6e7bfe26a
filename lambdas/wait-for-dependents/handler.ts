import middy from "@middy/core";
import { waitForDependents } from "../../src/pipeline/destroy.ts";
import type { TokenInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The WaitForDependents task of the destroy state machine (`${WaitForDependentsFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitForDependents(deps, event));
