import middy from "@middy/core";
import { type TokenInput, waitUntilReady } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The WaitUntilReady task of the state machines (`${WaitUntilReadyFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<TokenInput>().handler((event) => waitUntilReady(deps, event));
