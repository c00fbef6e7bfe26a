import middy from "@middy/core";
import { onPowerFailure } from "../../src/pipeline/power.ts";
import { buildAwsEvents } from "../shared/events.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The OnPowerFailure task of the power state machine (`${OnPowerFailureFunctionArn}`): the stack is
 * FAILED with the error, Stack Failed sent, the lock released. Builds only what the task takes.
 */
const deps = { store: buildAwsStore(), events: buildAwsEvents(), now: () => new Date() };

export const handler = middy<Parameters<typeof onPowerFailure>[1]>()
  .use(lambdaLogging())
  .handler((event) => onPowerFailure(deps, event));
