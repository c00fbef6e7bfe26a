import middy from "@middy/core";
import { finalize } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The Finalize task of the state machines (`${FinalizeFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<Parameters<typeof finalize>[1]>().handler((event) => finalize(deps, event));
