import middy from "@middy/core";
import { type HookInput, runHook } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The RunHook task of the state machines (`${RunHookFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<HookInput>().handler((event) => runHook(deps, event));
