import { describe, expect, it } from "vitest";
import type { ServerRecord } from "../../../src/ports/store.ts";
import { releaseFor } from "../../../src/store/wait-release.ts";

function record(overrides: Partial<ServerRecord>): ServerRecord {
  return {
    team: "t",
    stackId: "s",
    name: "web",
    provider: "sim",
    type: "small",
    status: "WAITING",
    deps: ["db"],
    dependents: [],
    pending: ["db"],
    run: 1,
    attempt: 0,
    ...overrides,
  };
}

describe("releaseFor", () => {
  it("waits while there is no token or a dependency is pending", () => {
    expect(releaseFor(record({ pending: [] }))).toBeUndefined();
    expect(releaseFor(record({ waitToken: "t" }))).toBeUndefined();
  });

  it("releases with success once the token is there and nothing is pending", () => {
    expect(releaseFor(record({ waitToken: "t", pending: [] }))).toEqual({ token: "t", outcome: "success" });
  });

  it("releases with failure when a dependency failed, pending or not", () => {
    expect(releaseFor(record({ waitToken: "t", failedDep: "db" }))).toEqual({
      token: "t",
      outcome: "failure",
      failedDep: "db",
    });
    expect(releaseFor(record({ waitToken: "t", failedDep: "db", pending: [] }))?.outcome).toBe("failure");
  });
});
