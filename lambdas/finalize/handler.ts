import middy from "@middy/core";
import { finalize } from "../../src/pipeline/finish.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSchedules } from "../shared/schedules.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The Finalize task of the state machines (`${FinalizeFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = {
  store: buildAwsStore(),
  events: buildAwsEvents(),
  now: () => new Date(),
  schedules: buildAwsSchedules(),
};

export const handler = middy<Parameters<typeof finalize>[1]>()
  .use(lambdaLogging())
  .handler((event) => finalize(deps, event));
