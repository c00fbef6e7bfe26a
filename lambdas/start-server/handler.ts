import middy from "@middy/core";
import { startServer } from "../../src/pipeline/power.ts";
import type { ServerInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The StartServer task of the power state machine (`${StartServerFunctionArn}`): the provider starts
 * the server again (aws: StartInstances, waiting until it runs) and changed artifacts are recorded.
 * Builds only what the task takes.
 */
const store = buildAwsStore();
const deps = { store, provider: buildAwsProviders(store), now: () => new Date() };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => startServer(deps, event));
