import middy from "@middy/core";
import { destroyServer, type ServerInput } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The DestroyServer task of the state machines (`${DestroyServerFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const store = buildAwsStore();
const deps = { store, provider: buildAwsProviders(store) };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => destroyServer(deps, event));
