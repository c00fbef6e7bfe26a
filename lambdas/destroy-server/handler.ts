import middy from "@middy/core";
import { destroyServer } from "../../src/pipeline/destroy.ts";
import type { ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The DestroyServer task of the destroy state machine (`${DestroyServerFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => destroyServer(deps, event));
