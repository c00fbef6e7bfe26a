import middy from "@middy/core";
import { prepare, type StackInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The Prepare task of the state machines (`${PrepareFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<StackInput>().handler((event) => prepare(deps, event));
