import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { beforeEach, describe, expect, it } from "vitest";
import { callbackSecretLoader } from "../../../../lambdas/shared/callback-secret.ts";
import { buildAwsDeps } from "../../../../lambdas/shared/deps.ts";
import { MissingConfigurationError } from "../../../../lambdas/shared/env.ts";
import { ec2, resetMocks, secretsManager, sts } from "../../../unit/providers/aws/support.ts";

// How the task functions and the API get the aws provider and the callback secret in AWS.

const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:teamstack/callback-AbCdEf";

beforeEach(() => {
  resetMocks();
});

describe("the aws wiring of the Lambdas", () => {
  it("makes the aws provider on first use, with no CALLBACK_* needed until a server is created", async () => {
    const deps = buildAwsDeps({ TABLE_NAME: "t", EVENT_BUS_NAME: "b" });
    expect(deps.provider("aws").name).toBe("aws");
    expect(deps.provider("aws")).toBe(deps.provider("aws"));
    // The instance reports its readiness itself: WaitUntilReady only parks the token.
    await deps.readiness.watch({
      provider: "aws",
      ref: { team: "acme", stackId: "st-1", server: "web", id: "i-1" },
      token: "task-token",
    });
    expect(ec2.calls()).toHaveLength(0);
    expect(sts.calls()).toHaveLength(0);
  });

  it("reads the callback secret once from CALLBACK_SECRET_ARN, and fails loudly without it", async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: "a-callback-secret-with-32-bytes!" });
    const client = new SecretsManagerClient({ region: "eu-west-1" });
    const load = callbackSecretLoader(client, { CALLBACK_SECRET_ARN: ARN });
    expect(Buffer.from(await load()).toString("utf8")).toBe("a-callback-secret-with-32-bytes!");
    await load();
    expect(secretsManager.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: ARN },
    ]);
    await expect(callbackSecretLoader(client, {})()).rejects.toThrow(MissingConfigurationError);
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: "short" });
    await expect(callbackSecretLoader(client, { CALLBACK_SECRET_ARN: ARN })()).rejects.toThrow(
      /at least 16 bytes/,
    );
  });
});
