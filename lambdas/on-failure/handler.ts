import middy from "@middy/core";
import { onFailure } from "../../src/pipeline/finish.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsProviders } from "../shared/providers.ts";
import { buildAwsSchedules } from "../shared/schedules.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The OnFailure task of the state machines (`${OnFailureFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const store = buildAwsStore();
const deps = {
  store,
  provider: buildAwsProviders(store),
  events: buildAwsEvents(),
  now: () => new Date(),
  schedules: buildAwsSchedules(),
};

export const handler = middy<Parameters<typeof onFailure>[1]>()
  .use(lambdaLogging())
  .handler((event) => onFailure(deps, event));
