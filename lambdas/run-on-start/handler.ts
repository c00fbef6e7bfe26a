import middy from "@middy/core";
import { runOnStart } from "../../src/pipeline/power.ts";
import type { ServerInput } from "../../src/pipeline/run.ts";
import { createDynamoServerLogs } from "../../src/store/dynamo/server-logs.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsSecrets } from "../shared/secrets.ts";
import { awsTable, buildAwsStore } from "../shared/store.ts";

/**
 * The RunOnStart task of the provision and power state machines (`${RunOnStartFunctionArn}`): runs
 * the server's on_start through its provider (aws: SSM Run Command), output masked. Builds only
 * what the task takes.
 */
const store = buildAwsStore();
const deps = {
  store,
  provider: buildAwsProviders(store),
  secrets: buildAwsSecrets(),
  logs: createDynamoServerLogs(awsTable()),
};

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => runOnStart(deps, event));
