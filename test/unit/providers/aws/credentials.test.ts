import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { beforeEach, describe, expect, it } from "vitest";
import type { CredentialRecord } from "../../../../src/ports/store.ts";
import { accountKeyOf, CredentialSource, sessionNameFor } from "../../../../src/providers/aws/credentials.ts";
import { AwsCredentialError, ProviderThrottledError } from "../../../../src/providers/aws/errors.ts";
import { EXTERNAL_ID, ROLE_CREDENTIAL, resetMocks, SESSION, secretsManager, sts } from "./support.ts";

const KEYS: CredentialRecord = {
  team: "acme",
  name: "legacy",
  kind: "keys",
  secretArn: "arn:aws:secretsmanager:eu-west-1:999988887777:secret:teamstack/acme/keys-AbCdEf",
  region: "eu-west-1",
  updatedAt: "2030-01-01T00:00:00Z",
};

beforeEach(() => {
  resetMocks();
});

function source() {
  const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
  const creds = new CredentialSource({
    sts: new STSClient({ region: "us-east-1" }),
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    now: () => clock.now,
  });
  return { creds, clock };
}

describe("team credentials", () => {
  it("assumes the role with the team's ExternalId once, and again only shortly before the session expires", async () => {
    const { creds, clock } = source();
    const session = sessionNameFor("st-1");
    const a = await creds.get(ROLE_CREDENTIAL, session);
    expect(a).toEqual({
      accessKeyId: SESSION.AccessKeyId,
      secretAccessKey: SESSION.SecretAccessKey,
      sessionToken: SESSION.SessionToken,
      expiration: SESSION.Expiration,
    });
    expect(sts.commandCalls(AssumeRoleCommand)[0]?.args[0].input).toMatchObject({
      ExternalId: EXTERNAL_ID,
      RoleSessionName: "teamstack-st-1",
    });
    clock.now = SESSION.Expiration.getTime() - 6 * 60_000;
    await creds.get(ROLE_CREDENTIAL, session);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(1);
    clock.now = SESSION.Expiration.getTime() - 4 * 60_000;
    await creds.get(ROLE_CREDENTIAL, session);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
    // Another stack is another session.
    await creds.get(ROLE_CREDENTIAL, sessionNameFor("st-2"));
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(3);
  });

  it("shares one AssumeRole between concurrent tasks and does not remember a failure", async () => {
    const { creds } = source();
    sts
      .on(AssumeRoleCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "Throttling" }))
      .resolves({ Credentials: SESSION });
    await expect(creds.get(ROLE_CREDENTIAL, "s")).rejects.toBeInstanceOf(ProviderThrottledError);
    await Promise.all([creds.get(ROLE_CREDENTIAL, "s"), creds.get(ROLE_CREDENTIAL, "s")]);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it("reads access keys from the team's secret, and names a malformed or unreadable one", async () => {
    const { creds } = source();
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ accessKeyId: "AKIAKEYS", secretAccessKey: "s3cr3t" }) })
      .resolvesOnce({ SecretString: "not json" })
      .rejects(Object.assign(new Error("denied"), { name: "AccessDeniedException" }));
    expect(await creds.get(KEYS, "ignored")).toEqual({ accessKeyId: "AKIAKEYS", secretAccessKey: "s3cr3t" });
    expect(secretsManager.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: KEYS.secretArn,
    });
    const fresh = source().creds;
    await expect(fresh.get(KEYS, "x")).rejects.toThrow(/is not \{"accessKeyId"/);
    const err = await fresh.get(KEYS, "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsCredentialError);
    expect((err as Error).message).not.toContain("s3cr3t");
  });

  it("keys per-account limits by the role's account, and names sessions after the stack within STS's rules", () => {
    expect(accountKeyOf(ROLE_CREDENTIAL)).toBe("account:111122223333");
    expect(accountKeyOf(KEYS)).toBe(`keys:${KEYS.secretArn}`);
    expect(sessionNameFor("st-0123456789abcdef")).toBe("teamstack-st-0123456789abcdef");
    expect(sessionNameFor(`a b/${"x".repeat(80)}`)).toMatch(/^teamstack-a-b-x+$/);
    expect(sessionNameFor(`${"x".repeat(80)}`)).toHaveLength(64);
  });
});
