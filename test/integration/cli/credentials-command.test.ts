import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.ts";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { runCli } from "../../support/cli.ts";
import { HOSTBOX } from "../../support/fixture-provider.ts";

// `teamstack credentials` on a local state directory: in this process with one more provider in
// the registry (one with secret fields), and as a user runs it (a child process, the real registry).
vi.mock("../../../src/providers/registry.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../src/providers/registry.ts")>();
  const { providerCatalog } = await import("../../../src/core/providers.ts");
  const { hostboxModule } = await import("../../support/fixture-provider.ts");
  const modules = [...original.PROVIDER_MODULES, hostboxModule];
  return { PROVIDER_MODULES: modules, PROVIDERS: providerCatalog(modules.map((m) => m.declaration)) };
});

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ncli-canary-5e4d3c2b1a\n-----END OPENSSH PRIVATE KEY-----\n";

let dir: string;
let stateDir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-credentials-cli-"));
  stateDir = join(dir, "state");
  await writeFile(join(dir, "key"), KEY);
});

afterAll(async () => {
  await stopLocalStore(stateDir);
  await rm(dir, { recursive: true, force: true });
});

/** `teamstack ARGS` in this process, its output collected. */
async function ts(...args: string[]) {
  let out = "";
  let err = "";
  const code = await main([...args, "--state-dir", stateDir], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

async function filesBelow(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await filesBelow(path)));
    else if (entry.isFile() && (await stat(path)).size < 64 << 20) out.push(path);
  }
  return out;
}

describe("teamstack credentials", () => {
  it("sets a credential with its secret read from a file, lists it without the secret, and removes it", async () => {
    const set = await ts(
      "credentials",
      "set",
      "box",
      "--team",
      "acme",
      "--provider",
      HOSTBOX,
      "--field",
      "address=10.1.2.3",
      "--field",
      "port=2200",
      "--field",
      "user=ops",
      "--secret-file",
      `privateKey=${join(dir, "key")}`,
      "--json",
    );
    expect(set.err).toContain(`stored team acme's ${HOSTBOX} credential box (secret fields set: privateKey)`);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.out)).toMatchObject({
      provider: HOSTBOX,
      values: { address: "10.1.2.3", port: "2200", user: "ops" },
      secretFields: ["privateKey"],
    });
    const list = await ts("credentials", "list", "--team", "acme");
    expect(list.code).toBe(0);
    expect(list.out).toMatch(
      new RegExp(`^box  ${HOSTBOX}  address=10\\.1\\.2\\.3 port=2200 user=ops  secret: privateKey  \\S+\\n$`),
    );
    const json = await ts("credentials", "list", "--team", "acme", "--json");
    expect(JSON.parse(json.out)).toEqual([
      expect.objectContaining({ name: "box", secretFields: ["privateKey"] }),
    ]);
    for (const r of [set, list, json]) expect(r.out + r.err).not.toContain("canary");
    for (const file of await filesBelow(stateDir)) {
      expect((await readFile(file)).includes("canary"), file).toBe(false);
    }
    const removed = await ts("credentials", "rm", "box", "--team", "acme");
    expect(removed).toMatchObject({ code: 0, err: "removed team acme's credential box\n" });
    expect((await ts("credentials", "list", "--team", "acme")).out).toBe("");
    const again = await ts("credentials", "rm", "box", "--team", "acme");
    expect(again).toMatchObject({
      code: 1,
      err: "teamstack credentials rm: team acme has no credential box\n",
    });
  });

  it("refuses a secret on the command line, naming the flag to use instead", async () => {
    const res = await ts("credentials", "set", "box", "--provider", HOSTBOX, "--field", `privateKey=${KEY}`);
    expect(res.code).toBe(2);
    expect(res.err).toContain(
      `--field privateKey: \`privateKey\` is a secret field of ${HOSTBOX} credentials; give it with --secret-file privateKey=PATH`,
    );
    expect(res.err).not.toContain("canary");
  });

  it("says which field is wrong and what was expected, and stores nothing", async () => {
    const res = await ts(
      "credentials",
      "set",
      "box",
      "--provider",
      HOSTBOX,
      "--field",
      "address=10.1.2.3",
      "--field",
      "port=http",
      "--secret-file",
      `privateKey=${join(dir, "key")}`,
    );
    expect(res.code).toBe(1);
    expect(res.err).toBe(
      "teamstack credentials set: credential `box`: field `port` `http`: expected a whole number from 1 to 65535; field `user` is missing: a user name (Who to log in as.)\n",
    );
    expect((await ts("credentials", "list")).out).toBe("");
  });

  it("registers the aws role as a user runs it, and lists the command in help and completion", async () => {
    await writeFile(join(dir, "external-id"), "0123456789abcdef-cli\n");
    const res = await runCli(
      [
        "credentials",
        "set",
        "default",
        "--provider",
        "aws",
        "--field",
        "roleArn=arn:aws:iam::123456789012:role/teamstack-ci",
        "--field",
        "region=eu-west-1",
        "--secret-file",
        `externalId=${join(dir, "external-id")}`,
        "--state-dir",
        stateDir,
      ],
      60_000,
    );
    // The file's newline is part of what it holds: an ExternalId has none, so it is refused.
    expect(res.stderr).toContain(
      "field `externalId`: expected an ExternalId (a secret field: its value is not shown)",
    );
    await writeFile(join(dir, "external-id"), "0123456789abcdef-cli");
    const ok = await runCli(
      [
        "credentials",
        "set",
        "default",
        "--provider",
        "aws",
        "--field",
        "roleArn=arn:aws:iam::123456789012:role/teamstack-ci",
        "--field",
        "region=eu-west-1",
        "--secret-file",
        `externalId=${join(dir, "external-id")}`,
        "--state-dir",
        stateDir,
      ],
      60_000,
    );
    expect(ok.stderr).toContain("stored team local's aws credential default (secret fields set: externalId)");
    expect(ok.code).toBe(0);
    const list = await runCli(["credentials", "list", "--state-dir", stateDir], 60_000);
    expect(list.stdout).toContain(
      "default  aws  roleArn=arn:aws:iam::123456789012:role/teamstack-ci region=eu-west-1  secret: externalId",
    );
    expect(list.stdout + list.stderr + ok.stdout + ok.stderr).not.toContain("0123456789abcdef-cli");
    const help = await runCli(["credentials", "--help"]);
    expect(help.stdout + help.stderr).toContain("--secret-file KEY=PATH");
    const completion = await runCli(["completion", "bash"]);
    expect(completion.stdout).toContain("credentials");
    expect(completion.stdout).toContain("--secret-file");
  });
});
