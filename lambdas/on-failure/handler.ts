import middy from "@middy/core";
import { onFailure } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The OnFailure task of the state machines (`${OnFailureFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof onFailure>[1]>().handler((event) => onFailure(deps, event));
