import middy from "@middy/core";
import type { RolloutService, StackRunOutcome } from "../../src/api/rollouts.ts";
import { ERROR_NAMES } from "../../src/core/error-names.ts";
import { TeamstackError } from "../../src/core/errors.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsService } from "../shared/service.ts";

/** An event that is not one of teamstack's `Stack Provisioned` / `Stack Failed`: to the dead-letter queue. */
export class InvalidStackEventError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.InvalidEventError;
  }
}

/** teamstack's own outbound event, as EventBridge delivers it to a rule's target. */
export interface StackEndedEvent {
  readonly id: string;
  readonly source: string;
  readonly "detail-type": string;
  readonly detail: {
    readonly team?: unknown;
    readonly stackId?: unknown;
    readonly run?: unknown;
    readonly template?: unknown;
    readonly error?: unknown;
  };
}

/**
 * How the stack's run ended, from the event's detail (what Finalize and OnFailure put in it).
 * @throws InvalidStackEventError naming what is missing.
 */
export function outcomeOf(event: StackEndedEvent): StackRunOutcome {
  const type = event["detail-type"];
  if (event.source !== "teamstack.stacks" || (type !== "Stack Provisioned" && type !== "Stack Failed")) {
    throw new InvalidStackEventError(
      `expected a teamstack.stacks Stack Provisioned or Stack Failed event, found ${String(event.source)} ${String(type)}`,
    );
  }
  const d = event.detail ?? {};
  const problems: string[] = [];
  if (typeof d.team !== "string") problems.push("detail.team: expected a string");
  if (typeof d.stackId !== "string") problems.push("detail.stackId: expected a string");
  if (typeof d.run !== "number" || !Number.isInteger(d.run))
    problems.push("detail.run: expected a whole number");
  const t = d.template as { name?: unknown; version?: unknown } | undefined;
  if (t !== undefined && (typeof t?.name !== "string" || typeof t.version !== "number")) {
    problems.push("detail.template: expected {name, version}");
  }
  if (problems.length > 0) throw new InvalidStackEventError(`${type} ${event.id}: ${problems.join("; ")}`);
  return {
    team: d.team as string,
    stackId: d.stackId as string,
    run: d.run as number,
    status: type === "Stack Provisioned" ? "SUCCEEDED" : "FAILED",
    ...(t ? { template: { name: t.name as string, version: t.version as number } } : {}),
    ...(typeof d.error === "string" ? { error: d.error } : {}),
  };
}

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
