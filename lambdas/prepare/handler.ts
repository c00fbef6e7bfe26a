import middy from "@middy/core";
import { prepare, type StackInput } from "../../src/pipeline/prepare.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSchedules } from "../shared/schedules.ts";
import { buildAwsExecutions } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The Prepare task of the state machines (`${PrepareFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = {
  store: buildAwsStore(),
  executions: buildAwsExecutions(),
  catalog: PROVIDERS,
  now: () => new Date(),
  events: buildAwsEvents(),
  schedules: buildAwsSchedules(),
};

export const handler = middy<StackInput>()
  .use(lambdaLogging())
  .handler((event) => prepare(deps, event));
