import { describe, expect, it } from "vitest";
import { buildAwsDeps } from "../../../lambdas/shared/deps.ts";
import { EgressConfigError } from "../../../src/hooks/errors.ts";
import { localConfig } from "../../../src/local/config.ts";

// Where TEAMSTACK_EGRESS_ALLOW is read: the local runtime's config and the task functions' deps.

const AWS_ENV = { TABLE_NAME: "teamstack", EVENT_BUS_NAME: "teamstack" };

describe("TEAMSTACK_EGRESS_ALLOW wiring", () => {
  it("is empty in the local config when unset, so the policy's defaults all hold", () => {
    expect(localConfig({}).egressAllow).toBe("");
  });

  it("passes a good list through the local config", () => {
    expect(localConfig({ TEAMSTACK_EGRESS_ALLOW: "127.0.0.1/32,fd00:1::/64" }).egressAllow).toBe(
      "127.0.0.1/32,fd00:1::/64",
    );
  });

  it("stops the local runtime at start on a bad entry, naming it", () => {
    expect(() => localConfig({ TEAMSTACK_EGRESS_ALLOW: "10.0.0.0/40" })).toThrow(EgressConfigError);
    expect(() => localConfig({ TEAMSTACK_EGRESS_ALLOW: "10.0.0.0/40" })).toThrow(
      "TEAMSTACK_EGRESS_ALLOW has a bad entry: `10.0.0.0/40`: the prefix length must be a number from 0 to 32 for an IPv4 range.",
    );
  });

  it("stops a task function's cold start on a bad entry, and builds with a good one or none", () => {
    expect(() => buildAwsDeps({ ...AWS_ENV, TEAMSTACK_EGRESS_ALLOW: "169.254.169.254/33" })).toThrow(
      /^TEAMSTACK_EGRESS_ALLOW has a bad entry: `169\.254\.169\.254\/33`/,
    );
    expect(buildAwsDeps({ ...AWS_ENV, TEAMSTACK_EGRESS_ALLOW: "10.20.0.0/16" }).hooks).toBeDefined();
    expect(buildAwsDeps(AWS_ENV).hooks).toBeDefined();
  });
});
