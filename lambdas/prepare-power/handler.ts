import middy from "@middy/core";
import { type PowerInput, preparePower } from "../../src/pipeline/power.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsSchedules } from "../shared/schedules.ts";
import { buildAwsExecutions } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The PreparePower task of the power state machine (`${PreparePowerFunctionArn}`): takes the lock,
 * checks the stop or start can be made; an auto_stop records its expiry (Stack Expired) or, on a
 * busy stack, moves its schedule a minute on. Builds, once per cold start, only what the task takes.
 */
const deps = {
  store: buildAwsStore(),
  executions: buildAwsExecutions(),
  catalog: PROVIDERS,
  events: buildAwsEvents(),
  schedules: buildAwsSchedules(),
  now: () => new Date(),
};

export const handler = middy<PowerInput>()
  .use(lambdaLogging())
  .handler((event) => preparePower(deps, event));
