import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { createSchedulerExpiry } from "../../src/adapters/eventbridge-scheduler.ts";
import type { ExpirySchedules } from "../../src/ports/schedules.ts";
import { requireEnv } from "./env.ts";

/**
 * The one-time EventBridge Scheduler schedules of stacks' ttl and auto_stop: in the group named by
 * SCHEDULE_GROUP_NAME, assumed as SCHEDULER_ROLE_ARN, starting DESTROY_STATE_MACHINE_ARN or
 * POWER_STATE_MACHINE_ARN. The variables are read when a schedule is first set.
 */
export function buildAwsSchedules(env: NodeJS.ProcessEnv = process.env): ExpirySchedules {
  let made: ExpirySchedules | undefined;
  const get = (): ExpirySchedules => {
    made ??= createSchedulerExpiry(new SchedulerClient({}), {
      group: requireEnv("SCHEDULE_GROUP_NAME", env),
      roleArn: requireEnv("SCHEDULER_ROLE_ARN", env),
      destroyStateMachineArn: requireEnv("DESTROY_STATE_MACHINE_ARN", env),
      powerStateMachineArn: requireEnv("POWER_STATE_MACHINE_ARN", env),
    });
    return made;
  };
  return {
    set: (key, action, at) => get().set(key, action, at),
    clear: (key, action) => get().clear(key, action),
  };
}
