import middy from "@middy/core";
import { type HookInput, runHook } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The RunHook task of the state machines (`${RunHookFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<HookInput>()
  .use(lambdaLogging())
  .handler((event) => runHook(deps, event));
