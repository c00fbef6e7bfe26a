import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.ts";

// `teamstack validate` of a template that asks the ssh provider for what it lacks: it cannot stop or
// start servers (processes on a shared host), so on_start and settings.auto_stop fail at the
// server's lines, naming the capability and the providers that have it (from the registry).

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
  it("fails at the server's line naming the capability the ssh provider lacks", async () => {
    const file = join(dir, "stack.yaml");
    await writeFile(
      file,
      [
        "settings:",
        "  auto_stop: 8h",
        "servers:",
        "  - name: web",
        "    provider: ssh",
        "    type: host",
        "    on_start: ./serve &",
        "",
      ].join("\n"),
    );
    const res = await validate(file);
    expect(res.code).toBe(1);
    expect(res.err).toContain(
      `${file}:5:15: error: server \`web\` (line 4): settings.auto_stop (line 2) stops every server of the stack, and provider \`ssh\` cannot stop servers (it lacks the \`stop\` capability; providers with it: aws, local, sim, docker)`,
    );
    expect(res.err).toContain(
      `${file}:7:15: error: server \`web\` (line 4): on_start runs when a server starts, and provider \`ssh\` cannot start servers (it lacks the \`start\` capability; providers with it: aws, local, sim, docker)`,
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
