import middy from "@middy/core";
import { createServer, type ServerInput } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The CreateServer task of the state machines (`${CreateServerFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const store = buildAwsStore();
const deps = { store, provider: buildAwsProviders(store), secrets: buildAwsSecrets(), now: () => new Date() };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => createServer(deps, event));
