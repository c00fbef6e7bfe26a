import middy from "@middy/core";
import { destroyServer, type ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The DestroyServer task of the state machines (`${DestroyServerFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => destroyServer(deps, event));
