import middy from "@middy/core";
import { checkServers, type RunInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The CheckServers task of the state machines (`${CheckServersFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<RunInput>()
  .use(lambdaLogging())
  .handler((event) => checkServers(deps, event));
