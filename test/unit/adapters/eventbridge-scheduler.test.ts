import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  atExpression,
  createSchedulerExpiry,
  ScheduleError,
  scheduleName,
} from "../../../src/adapters/eventbridge-scheduler.ts";

// The ExpirySchedules port on EventBridge Scheduler, at the SDK boundary.

const scheduler = mockClient(SchedulerClient);
const TARGETS = {
  group: "Teamstack-expiry",
  roleArn: "arn:aws:iam::123456789012:role/Teamstack-SchedulerRole",
  destroyStateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:Teamstack-Destroy",
  powerStateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:Teamstack-Power",
};
const KEY = { team: "acme", stackId: "st-0123456789abcdef" };
const schedules = () => createSchedulerExpiry(new SchedulerClient({ region: "eu-west-1" }), TARGETS);

beforeEach(() => {
  scheduler.reset();
});

describe("EventBridge Scheduler expiry schedules", () => {
  it("creates a one-time schedule that deletes itself and starts the destroy machine with the expiry in its input", async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: "arn:x" });
    await schedules().set(KEY, "destroy", "2030-01-02T03:04:05.678Z");
    const input = scheduler.commandCalls(CreateScheduleCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      Name: scheduleName(KEY, "destroy"),
      GroupName: "Teamstack-expiry",
      ScheduleExpression: "at(2030-01-02T03:04:05)",
      ScheduleExpressionTimezone: "UTC",
      FlexibleTimeWindow: { Mode: "OFF" },
      ActionAfterCompletion: "DELETE",
      Target: { Arn: TARGETS.destroyStateMachineArn, RoleArn: TARGETS.roleArn },
    });
    expect(JSON.parse(input?.Target?.Input as string)).toEqual({
      team: "acme",
      stackId: KEY.stackId,
      expired: { action: "destroy", at: "2030-01-02T03:04:05.678Z" },
    });
  });

  it("starts the power machine's stop for an auto_stop, and moves a schedule that exists", async () => {
    scheduler
      .on(CreateScheduleCommand)
      .rejects(new ConflictException({ message: "exists", Message: "exists", $metadata: {} }));
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: "arn:x" });
    await schedules().set(KEY, "stop", "2030-01-02T03:04:05.000Z");
    const update = scheduler.commandCalls(UpdateScheduleCommand)[0]?.args[0].input;
    expect(update?.Name).toBe(scheduleName(KEY, "stop"));
    expect(update?.Target?.Arn).toBe(TARGETS.powerStateMachineArn);
    expect(JSON.parse(update?.Target?.Input as string)).toEqual({
      team: "acme",
      stackId: KEY.stackId,
      action: "stop",
      expired: { action: "stop", at: "2030-01-02T03:04:05.000Z" },
    });
  });

  it("deletes a schedule, and takes one that is gone as deleted", async () => {
    scheduler
      .on(DeleteScheduleCommand)
      .resolvesOnce({})
      .rejects(new ResourceNotFoundException({ message: "gone", Message: "gone", $metadata: {} }));
    await schedules().clear(KEY, "destroy");
    await schedules().clear(KEY, "destroy");
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: scheduleName(KEY, "destroy"), GroupName: "Teamstack-expiry" },
      { Name: scheduleName(KEY, "destroy"), GroupName: "Teamstack-expiry" },
    ]);
  });

  it("says which stack's schedule failed, as its own error", async () => {
    scheduler
      .on(CreateScheduleCommand)
      .rejects(Object.assign(new Error("AccessDenied"), { name: "AccessDeniedException" }));
    const error = await schedules()
      .set(KEY, "stop", "2030-01-02T03:04:05.000Z")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScheduleError);
    expect((error as Error).message).toContain(`the auto_stop schedule of stack \`${KEY.stackId}\``);
  });

  it("names schedules within Scheduler's 64 characters, per stack and action", () => {
    const long = { team: "t".repeat(63), stackId: "s".repeat(63) };
    for (const action of ["destroy", "stop"] as const) {
      expect(scheduleName(long, action)).toMatch(/^[0-9A-Za-z._-]{1,64}$/);
    }
    expect(scheduleName(KEY, "stop")).not.toBe(scheduleName(KEY, "destroy"));
    expect(scheduleName(KEY, "stop")).not.toBe(scheduleName({ ...KEY, team: "other" }, "stop"));
    expect(atExpression("2030-12-31T23:59:59.999Z")).toBe("at(2030-12-31T23:59:59)");
  });
});
