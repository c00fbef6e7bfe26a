import middy from "@middy/core";
import { stopServer } from "../../src/pipeline/power.ts";
import type { ServerInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The StopServer task of the power state machine (`${StopServerFunctionArn}`): the provider stops
 * the server (aws: StopInstances, waiting until it is stopped). Builds only what the task takes.
 */
const store = buildAwsStore();
const deps = { store, provider: buildAwsProviders(store), now: () => new Date() };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => stopServer(deps, event));
