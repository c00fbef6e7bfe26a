import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import type { StackRunOutcome } from "./rollouts.ts";

/**
 * teamstack's own `Stack Provisioned` / `Stack Failed` events, as EventBridge delivers them to
 * lambdas/rollout: how a stack's run ended, for the rollout updating it.
 */

/** An event that is not one of teamstack's `Stack Provisioned` / `Stack Failed`: to the dead-letter queue. */
export class InvalidStackEventError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.InvalidStackEventError;
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
