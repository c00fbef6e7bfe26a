import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { createAwsSecrets } from "../../../src/secrets/aws-secrets.ts";
import { createLocalSecrets, SecretsError } from "../../../src/secrets/local-secrets.ts";

// A credential's secret fields live in a scope of their own: no team or member secret (which is
// all a template's hooks can name) is one of them.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("credential secrets", () => {
  it("are kept apart from team and member secrets of the same names, locally", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "teamstack-cred-secrets-"));
    dirs.push(stateDir);
    const s = createLocalSecrets({ stateDir });
    await s.set({ team: "acme", credential: "box" }, "privateKey", "the-key");
    expect(await s.get({ team: "acme" }, "privateKey")).toBeUndefined();
    expect(await s.get({ team: "acme", member: "box" }, "privateKey")).toBeUndefined();
    expect(await s.get({ team: "acme", credential: "box" }, "privateKey")).toBe("the-key");
    await s.set({ team: "acme", member: "box" }, "privateKey", "a-member-secret");
    expect(await s.get({ team: "acme", credential: "box" }, "privateKey")).toBe("the-key");
    expect((await s.list("acme")).map(({ updatedAt: _, ...e }) => e)).toEqual([
      { team: "acme", credential: "box", name: "privateKey" },
      { team: "acme", member: "box", name: "privateKey" },
    ]);
    await expect(s.set({ team: "acme", member: "m", credential: "box" }, "k", "v")).rejects.toThrow(
      SecretsError,
    );
    expect(await s.remove({ team: "acme", credential: "box" }, "privateKey")).toBe(true);
    expect(await s.get({ team: "acme", member: "box" }, "privateKey")).toBe("a-member-secret");
  });

  it("are named one level deeper in Secrets Manager, and listed as the credential's", async () => {
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => ({
      SecretString: input.SecretId,
    }));
    sm.on(ListSecretsCommand).resolves({
      SecretList: [
        { Name: "teamstack/acme/_team/webhook_secret" },
        { Name: "teamstack/acme/_credential/box/privateKey" },
        { Name: "teamstack/acme/_credential/k" },
      ],
    });
    const adapter = createAwsSecrets(new SecretsManagerClient({ region: "eu-west-1" }), { maxAge: 0 });
    expect(await adapter.get({ team: "acme", credential: "box" }, "privateKey")).toBe(
      "teamstack/acme/_credential/box/privateKey",
    );
    expect((await adapter.list("acme")).map(({ updatedAt: _, ...e }) => e)).toEqual([
      { team: "acme", name: "webhook_secret" },
      { team: "acme", credential: "box", name: "privateKey" },
      { team: "acme", member: "_credential", name: "k" },
    ]);
    sm.restore();
  });
});
