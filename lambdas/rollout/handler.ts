import middy from "@middy/core";
import { outcomeOf, type StackEndedEvent } from "../../src/api/rollout-events.ts";
import type { RolloutService } from "../../src/api/rollouts.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsService } from "../shared/service.ts";

/**
 * Advances the rollout updating the stack whose run ended (if any): records the stack's outcome,
 * and starts the next wave or ends the rollout. A redelivered event starts nothing twice
 * (src/api/rollouts.ts moves every stack by a conditional write).
 */
export async function onStackEnded(event: StackEndedEvent, rollouts: RolloutService): Promise<void> {
  await rollouts.onStackRunEnded(outcomeOf(event));
}

const rollouts = buildAwsService().rollouts;

export const handler = middy<StackEndedEvent>()
  .use(lambdaLogging())
  .handler((event) => onStackEnded(event, rollouts));
