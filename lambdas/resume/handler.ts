import middy from "@middy/core";
import { resume } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The Resume task of the state machines (`${ResumeFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof resume>[1]>().handler((event) => resume(deps, event));
