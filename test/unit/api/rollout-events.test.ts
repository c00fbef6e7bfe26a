import { describe, expect, it } from "vitest";
import { InvalidStackEventError, outcomeOf } from "../../../src/api/rollout-events.ts";

// What lambdas/rollout reads of teamstack's own events: the outcome of a stack's run.

const provisioned = {
  id: "e1",
  source: "teamstack.stacks",
  "detail-type": "Stack Provisioned",
  detail: {
    team: "acme",
    stackId: "st-1",
    member: "ada",
    run: 3,
    template: { name: "web", version: 4 },
    eventId: "x",
  },
};

describe("outcomeOf", () => {
  it("reads a Stack Provisioned event as a run that succeeded on its template version", () => {
    expect(outcomeOf(provisioned)).toEqual({
      team: "acme",
      stackId: "st-1",
      run: 3,
      status: "SUCCEEDED",
      template: { name: "web", version: 4 },
    });
  });

  it("reads a Stack Failed event with its error", () => {
    const failed = {
      ...provisioned,
      "detail-type": "Stack Failed",
      detail: { ...provisioned.detail, error: "boom" },
    };
    expect(outcomeOf(failed)).toMatchObject({ status: "FAILED", error: "boom", run: 3 });
  });

  it("refuses another source or type, naming what it found", () => {
    expect(() => outcomeOf({ ...provisioned, "detail-type": "Team Member Signed Up" })).toThrow(
      /expected a teamstack\.stacks Stack Provisioned or Stack Failed event, found teamstack\.stacks Team Member Signed Up/,
    );
    expect(() => outcomeOf({ ...provisioned, source: "other" })).toThrow(InvalidStackEventError);
  });

  it("refuses a detail without what it needs, naming every missing field", () => {
    const bad = { ...provisioned, detail: { team: 1, run: "3", template: { name: "web" } } };
    const error = (() => {
      try {
        outcomeOf(bad);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.name).toBe("InvalidStackEventError");
    expect(error?.message).toBe(
      "Stack Provisioned e1: detail.team: expected a string; detail.stackId: expected a string; detail.run: expected a whole number; detail.template: expected {name, version}",
    );
  });
});
