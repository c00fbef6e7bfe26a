import { createHash } from "node:crypto";
import {
  ActionAfterCompletion,
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  FlexibleTimeWindowMode,
  ResourceNotFoundException,
  type SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import type { ExpiryAction, ExpirySchedules } from "../ports/schedules.ts";
import type { StackKey } from "../ports/store.ts";

/** A schedule could not be created, moved or deleted. */
export class ScheduleError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.ScheduleError;
  }
}

export interface SchedulerTargets {
  /** The schedule group every expiry schedule goes in (the CDK app makes it). */
  readonly group: string;
  /** The role EventBridge Scheduler assumes to start the executions (states:StartExecution). */
  readonly roleArn: string;
  /** The state machine a ttl starts (destroy) and the one an auto_stop starts (power). */
  readonly destroyStateMachineArn: string;
  readonly powerStateMachineArn: string;
}

/**
 * The name of a stack's schedule for an action: at most 64 characters of [0-9A-Za-z._-], so the
 * team and stack (which may be longer together) are hashed; the action stays readable.
 */
export function scheduleName(key: StackKey, action: ExpiryAction): string {
  const hash = createHash("sha256").update(`${key.team}\u0000${key.stackId}`).digest("hex").slice(0, 40);
  return `teamstack-${hash}-${action}`;
}

/** `at(yyyy-mm-ddThh:mm:ss)` in UTC, as one-time schedules take it (no fractions, no zone). */
export function atExpression(iso: string): string {
  return `at(${new Date(iso).toISOString().slice(0, 19)})`;
}

/**
 * ExpirySchedules on EventBridge Scheduler: one one-time `at(...)` schedule per stack and action,
 * deleted by the scheduler once it has fired (ActionAfterCompletion DELETE). It starts the destroy
 * machine (ttl) or the power machine's stop (auto_stop) with `{team, stackId, expired}`, which
 * checks that the expiry is still due. Setting one that exists updates it (CreateSchedule, then
 * UpdateSchedule on a conflict); clearing one that is gone is not an error.
 */
export function createSchedulerExpiry(client: SchedulerClient, targets: SchedulerTargets): ExpirySchedules {
  const describe = (key: StackKey, action: ExpiryAction) =>
    `the ${action === "destroy" ? "ttl" : "auto_stop"} schedule of stack \`${key.stackId}\``;
  return {
    async set(key, action, at) {
      const input = {
        Name: scheduleName(key, action),
        GroupName: targets.group,
        ScheduleExpression: atExpression(at),
        ScheduleExpressionTimezone: "UTC",
        FlexibleTimeWindow: { Mode: FlexibleTimeWindowMode.OFF },
        ActionAfterCompletion: ActionAfterCompletion.DELETE,
        Description:
          `teamstack ${action === "destroy" ? "ttl" : "auto_stop"} of ${key.team}/${key.stackId}`.slice(
            0,
            512,
          ),
        Target: {
          Arn: action === "destroy" ? targets.destroyStateMachineArn : targets.powerStateMachineArn,
          RoleArn: targets.roleArn,
          Input: JSON.stringify({
            team: key.team,
            stackId: key.stackId,
            ...(action === "stop" ? { action: "stop" } : {}),
            expired: { action, at },
          }),
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        },
      };
      try {
        await client.send(new CreateScheduleCommand(input));
      } catch (error) {
        if (!(error instanceof ConflictException)) {
          throw new ScheduleError(`cannot create ${describe(key, action)}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        try {
          await client.send(new UpdateScheduleCommand(input));
        } catch (again) {
          throw new ScheduleError(`cannot move ${describe(key, action)}: ${(again as Error).message}`, {
            cause: again,
          });
        }
      }
    },
    async clear(key, action) {
      try {
        await client.send(
          new DeleteScheduleCommand({ Name: scheduleName(key, action), GroupName: targets.group }),
        );
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return;
        throw new ScheduleError(`cannot delete ${describe(key, action)}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
  };
}
