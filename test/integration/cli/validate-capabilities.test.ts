import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.ts";
import { HOSTBOX } from "../../support/fixture-provider.ts";

// `teamstack validate` with one more provider in the registry, one with none of the optional verbs
// (as the ssh provider will be): the command reads the registry it is built with.
vi.mock("../../../src/providers/registry.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../src/providers/registry.ts")>();
  const { providerCatalog } = await import("../../../src/core/providers.ts");
  const { hostboxModule } = await import("../../support/fixture-provider.ts");
  const modules = [...original.PROVIDER_MODULES, hostboxModule];
  return { PROVIDER_MODULES: modules, PROVIDERS: providerCatalog(modules.map((m) => m.declaration)) };
});

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "teamstack-validate-caps-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validate(file: string, ...flags: string[]) {
  let out = "";
  let err = "";
  const code = await main(["validate", file, ...flags], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe("teamstack validate: capabilities", () => {
  it("fails at the server's line naming the capability its provider lacks", async () => {
    const file = join(dir, "stack.yaml");
    await writeFile(
      file,
      [
        "settings:",
        "  auto_stop: 8h",
        "servers:",
        "  - name: web",
        `    provider: ${HOSTBOX}`,
        "    type: host",
        "    on_start: ./serve &",
        "",
      ].join("\n"),
    );
    const res = await validate(file);
    expect(res.code).toBe(1);
    expect(res.err).toContain(
      `${file}:5:15: error: server \`web\` (line 4): settings.auto_stop (line 2) stops every server of the stack, and provider \`${HOSTBOX}\` cannot stop servers (it lacks the \`stop\` capability; providers with it: aws, local, sim, docker)`,
    );
    expect(res.err).toContain(
      `${file}:7:15: error: server \`web\` (line 4): on_start runs when a server starts, and provider \`${HOSTBOX}\` cannot start servers (it lacks the \`start\` capability; providers with it: aws, local, sim, docker)`,
    );
    const json = await validate(file, "--json");
    expect(JSON.parse(json.out)).toMatchObject({
      valid: false,
      problems: [
        { line: 5, column: 15, message: expect.stringContaining("lacks the `stop` capability") },
        { line: 7, column: 15, message: expect.stringContaining("lacks the `start` capability") },
      ],
    });
  });
});
