import {
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createAwsSecrets, DEFAULT_SECRETS_MAX_AGE_SECONDS } from "../../../src/secrets/aws-secrets.ts";
import { SecretsError } from "../../../src/secrets/local-secrets.ts";

const sm = mockClient(SecretsManagerClient);
const MEMBER = { team: "acme", member: "octocat" };
const TEAM = { team: "acme" };
const ID = "teamstack/acme/octocat/AWS_SECRET_KEY";

const notFound = () => new ResourceNotFoundException({ message: "no such secret", $metadata: {} });
const throttled = () =>
  Object.assign(new Error("Rate exceeded"), {
    name: "ThrottlingException",
    $metadata: { httpStatusCode: 400 },
  });
const reads = () => sm.commandCalls(GetSecretValueCommand).length;

function secrets(maxAge?: number) {
  const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
  const adapter = createAwsSecrets(new SecretsManagerClient({ region: "eu-west-1" }), {
    now: () => clock.now,
    ...(maxAge !== undefined ? { maxAge } : {}),
  });
  return { adapter, clock };
}

beforeEach(() => {
  sm.reset();
});

describe("aws secrets: the per-container cache", () => {
  it("reads a secret once within its max age (5 s by default) and again after it", async () => {
    sm.on(GetSecretValueCommand, { SecretId: ID }).resolvesOnce({ SecretString: "v1" }).resolves({
      SecretString: "v2",
    });
    const { adapter, clock } = secrets();
    expect(DEFAULT_SECRETS_MAX_AGE_SECONDS).toBe(5);
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("v1");
    clock.now += 4_999;
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("v1");
    expect(reads()).toBe(1);
    clock.now += 1;
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("v2");
    expect(reads()).toBe(2);
    expect(sm.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: ID });
  });

  it("caches a missing secret for the same time, then sees it once set elsewhere", async () => {
    sm.on(GetSecretValueCommand).rejectsOnce(notFound()).resolves({ SecretString: "tok" });
    const { adapter, clock } = secrets();
    expect(await adapter.get(TEAM, "slack_token")).toBeUndefined();
    expect(await adapter.get(TEAM, "slack_token")).toBeUndefined();
    expect(reads()).toBe(1);
    clock.now += 5_000;
    expect(await adapter.get(TEAM, "slack_token")).toBe("tok");
    expect(reads()).toBe(2);
  });

  it("does not cache a failed read: the next call reads again", async () => {
    sm.on(GetSecretValueCommand).rejectsOnce(throttled()).resolves({ SecretString: "v" });
    const { adapter } = secrets();
    const err = await adapter.get(MEMBER, "AWS_SECRET_KEY").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsError);
    expect((err as Error).message).toBe("cannot read secret `AWS_SECRET_KEY` of team `acme`");
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("v");
    expect(reads()).toBe(2);
  });

  it("shares one read between concurrent calls for the same secret", async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: "v" });
    const { adapter } = secrets();
    const values = await Promise.all(Array.from({ length: 10 }, () => adapter.get(MEMBER, "AWS_SECRET_KEY")));
    expect(values).toEqual(Array(10).fill("v"));
    expect(reads()).toBe(1);
  });

  it("keeps team and member secrets, and teams, apart", async () => {
    sm.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => ({
      SecretString: input.SecretId,
    }));
    const { adapter } = secrets();
    expect(await adapter.get(TEAM, "k")).toBe("teamstack/acme/_team/k");
    expect(await adapter.get(MEMBER, "k")).toBe("teamstack/acme/octocat/k");
    expect(await adapter.get({ team: "other" }, "k")).toBe("teamstack/other/_team/k");
    expect(reads()).toBe(3);
  });

  it("reads anew after this container sets or removes the secret", async () => {
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: "old" }).resolvesOnce({ SecretString: "new" });
    sm.on(PutSecretValueCommand).resolves({});
    sm.on(DeleteSecretCommand).resolves({});
    const { adapter } = secrets();
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("old");
    await adapter.set(MEMBER, "AWS_SECRET_KEY", "new");
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBe("new");
    sm.on(GetSecretValueCommand).rejects(notFound());
    expect(await adapter.remove(MEMBER, "AWS_SECRET_KEY")).toBe(true);
    expect(await adapter.get(MEMBER, "AWS_SECRET_KEY")).toBeUndefined();
    expect(reads()).toBe(3);
  });

  it("reads every time with maxAge 0, and refuses a negative one", async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: "v" });
    const { adapter } = secrets(0);
    await adapter.get(MEMBER, "AWS_SECRET_KEY");
    await adapter.get(MEMBER, "AWS_SECRET_KEY");
    expect(reads()).toBe(2);
    expect(() => secrets(-1)).toThrow(/maxAge `-1`: expected a number of seconds, 0 or more/);
  });
});
