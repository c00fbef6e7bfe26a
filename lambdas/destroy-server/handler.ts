import middy from "@middy/core";
import { destroyServer } from "../../src/pipeline/destroy.ts";
import type { ServerInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The DestroyServer task of the destroy state machine (`${DestroyServerFunctionArn}`): the provider
 * destroys the server, then what it depends on each lose it from their pending set (the last one
 * releases a waiting destroy). Builds, once per cold start, only what the task takes.
 */
const store = buildAwsStore();
const deps = { store, provider: buildAwsProviders(store), tokens: buildAwsTokens() };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => destroyServer(deps, event));
