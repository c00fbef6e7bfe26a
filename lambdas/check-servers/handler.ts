import middy from "@middy/core";
import { checkServers, type RunInput } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The CheckServers task of the state machines (`${CheckServersFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = { store: buildAwsStore() };

export const handler = middy<RunInput>()
  .use(lambdaLogging())
  .handler((event) => checkServers(deps, event));
