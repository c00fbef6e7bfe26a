import middy from "@middy/core";
import { finishPower } from "../../src/pipeline/power.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSchedules } from "../shared/schedules.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The FinishPower task of the power state machine (`${FinishPowerFunctionArn}`): the stack is
 * STOPPED or SUCCEEDED, its auto_stop schedule set again after a start, Stack Stopped / Stack
 * Started sent, the lock released. Builds only what the task takes.
 */
const deps = {
  store: buildAwsStore(),
  events: buildAwsEvents(),
  schedules: buildAwsSchedules(),
  now: () => new Date(),
};

export const handler = middy<Parameters<typeof finishPower>[1]>()
  .use(lambdaLogging())
  .handler((event) => finishPower(deps, event));
