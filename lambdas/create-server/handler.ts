import middy from "@middy/core";
import { createServer, type ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The CreateServer task of the state machines (`${CreateServerFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => createServer(deps, event));
