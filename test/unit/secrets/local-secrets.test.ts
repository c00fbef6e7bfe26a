import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createMasker, maskValue } from "../../../src/core/mask.ts";
import { createLocalSecrets, SecretsError } from "../../../src/secrets/local-secrets.ts";

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "teamstack-secrets-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the local secrets store", () => {
  it("stores, reads, lists (names only) and removes team and member secrets", async () => {
    const stateDir = fresh();
    const s = createLocalSecrets({ stateDir });
    await s.set({ team: "acme" }, "github_token", "ghp_team");
    await s.set({ team: "acme", member: "alice" }, "AWS_SECRET_KEY", "alice-key");
    expect(await s.get({ team: "acme" }, "github_token")).toBe("ghp_team");
    expect(await s.get({ team: "acme", member: "alice" }, "AWS_SECRET_KEY")).toBe("alice-key");
    expect(await s.get({ team: "acme", member: "bob" }, "AWS_SECRET_KEY")).toBeUndefined();
    expect((await s.list("acme")).map((e) => [e.member ?? null, e.name])).toEqual([
      [null, "github_token"],
      ["alice", "AWS_SECRET_KEY"],
    ]);
    expect(await s.remove({ team: "acme" }, "github_token")).toBe(true);
    expect(await s.remove({ team: "acme" }, "github_token")).toBe(false);
    expect(await s.get({ team: "acme" }, "github_token")).toBeUndefined();
  });

  it("keeps values encrypted, the key and file readable by their owner only", async () => {
    const stateDir = fresh();
    await createLocalSecrets({ stateDir }).set({ team: "acme" }, "slack_token", "xoxb-very-secret");
    const file = readFileSync(join(stateDir, "secrets", "secrets.json"), "utf8");
    expect(file).toContain("slack_token");
    expect(file).not.toContain("xoxb-very-secret");
    expect(statSync(join(stateDir, "secrets", "key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, "secrets", "secrets.json")).mode & 0o777).toBe(0o600);
  });

  it("uses TEAMSTACK_SECRETS_KEY when given, and says so when the key does not match", async () => {
    const stateDir = fresh();
    const key = "11".repeat(32);
    await createLocalSecrets({ stateDir, key }).set({ team: "acme" }, "x", "v");
    expect(await createLocalSecrets({ stateDir, key }).get({ team: "acme" }, "x")).toBe("v");
    await expect(
      createLocalSecrets({ stateDir, key: "22".repeat(32) }).get({ team: "acme" }, "x"),
    ).rejects.toThrow(/TEAMSTACK_SECRETS_KEY changed/);
    await expect(
      createLocalSecrets({ stateDir, key: "short" }).get({ team: "acme" }, "x"),
    ).rejects.toBeInstanceOf(SecretsError);
  });

  it("binds a value to its name: one moved to another name does not decrypt", async () => {
    const stateDir = fresh();
    const s = createLocalSecrets({ stateDir });
    await s.set({ team: "acme" }, "a", "value-a");
    const path = join(stateDir, "secrets", "secrets.json");
    const f = JSON.parse(readFileSync(path, "utf8"));
    f.entries["acme//b"] = f.entries["acme//a"];
    writeFileSync(path, JSON.stringify(f));
    await expect(s.get({ team: "acme" }, "b")).rejects.toBeInstanceOf(SecretsError);
  });

  it("refuses names that are not names", async () => {
    const s = createLocalSecrets({ stateDir: fresh() });
    await expect(s.set({ team: "acme" }, "a/b", "v")).rejects.toThrow(/invalid secret name/);
    await expect(s.set({ team: "ac/me" }, "a", "v")).rejects.toThrow(/invalid team/);
  });

  it("keeps every secret written by concurrent writers", async () => {
    const stateDir = fresh();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createLocalSecrets({ stateDir }).set({ team: "acme" }, `s${i}`, `v${i}`),
      ),
    );
    expect(await createLocalSecrets({ stateDir }).list("acme")).toHaveLength(12);
  });
});

describe("masking", () => {
  it("replaces every occurrence, longer secrets first, inside nested values", () => {
    const mask = createMasker(["abc", "abcdef", ""]);
    expect(mask("x abcdef y abc z")).toBe("x *** y *** z");
    expect(maskValue({ a: ["abc"], b: { c: "-abcdef-" }, n: 1 }, mask)).toEqual({
      a: ["***"],
      b: { c: "-***-" },
      n: 1,
    });
    expect(createMasker([])("abc")).toBe("abc");
  });
});
