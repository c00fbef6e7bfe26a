import middy from "@middy/core";
import { destroyServer, type ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The DestroyServer task of the state machines (`${DestroyServerFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>().handler((event) => destroyServer(deps, event));
