import middy from "@middy/core";
import { type FailureInput, markServerFailed } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The MarkServerFailed task of the state machines (`${MarkServerFailedFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<FailureInput>().handler((event) => markServerFailed(deps, event));
