import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../support/cli.ts";

// The seed's example template writes `provider: virtualbox/localhost`: it validates as local.
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-validate-alias-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("teamstack validate with the seed's provider spelling", () => {
  it("validates it as the local provider and notes the alias once", async () => {
    const file = join(dir, "seed.yaml");
    await writeFile(
      file,
      [
        "servers:",
        "  - name: devrim",
        "    provider: virtualbox/localhost",
        "    type: 4gb-ram/40gb-disk",
        "    user_data: echo foo",
        "  - name: other",
        "    provider: virtualbox/localhost",
        "    type: sandbox",
        "",
      ].join("\n"),
    );
    const res = await runCli(["validate", file], 60_000);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe(
      `${file}:3:15: note: \`virtualbox/localhost\` is another name for \`local\`\n${file}: valid\n`,
    );
    const json = await runCli(["validate", "--json", file], 60_000);
    expect(JSON.parse(json.stdout)).toEqual({
      valid: true,
      problems: [],
      notes: [{ file, line: 3, column: 15, message: "`virtualbox/localhost` is another name for `local`" }],
    });
  });
});
