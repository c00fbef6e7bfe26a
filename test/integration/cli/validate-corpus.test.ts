import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type CliResult, ROOT, runCli as runCliWithin } from "../../support/cli.ts";

// The real command in child processes. The bad corpus runs in two batches (human and --json
// output) and is checked file by file; the rest are single runs.

const BAD = "test/fixtures/bad";
/**
 * A run that takes longer than this counts as a hang. Generous: validating the 10 MB files takes
 * about a second alone, and many times that on a machine loaded several times over.
 */
const TIMEOUT_MS = 90_000;
const runCli = (args: readonly string[]) => runCliWithin(args, TIMEOUT_MS);
vi.setConfig({ testTimeout: TIMEOUT_MS + 10_000, hookTimeout: TIMEOUT_MS + 10_000 });

interface Expected {
  readonly line: number;
  readonly column: number;
  /** An exact substring of the message. */
  readonly message: string;
}

interface Found {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

const PROBLEM_LINE = /^(.+?):(\d+):(\d+): error: (.+)$/;

/** Parses `FILE:LINE:COL: error: MESSAGE` lines; any other line fails the test. */
function parseProblemLines(stderr: string): Found[] {
  const lines = stderr.split("\n").filter((l) => l !== "");
  return lines.map((l) => {
    const m = PROBLEM_LINE.exec(l);
    expect(m, `not a FILE:LINE:COL: error: MESSAGE line: ${l}`).not.toBeNull();
    const [, file, line, column, message] = m as RegExpExecArray;
    return { file: file as string, line: Number(line), column: Number(column), message: message as string };
  });
}

function groupByFile(found: readonly Found[]): Map<string, Found[]> {
  const byFile = new Map<string, Found[]>();
  for (const p of found) {
    const list = byFile.get(p.file) ?? [];
    list.push(p);
    byFile.set(p.file, list);
  }
  return byFile;
}

function expectNoCrash(result: CliResult): void {
  expect(result.signal, "the command was killed: it hung").toBeNull();
  const output = `${result.stdout}\n${result.stderr}`;
  expect(output).not.toMatch(/^\s+at /m);
  expect(output).not.toMatch(/internal error/i);
  expect(output).not.toMatch(/\b(TypeError|RangeError|ReferenceError|SyntaxError)\b/);
}

/** Every expected problem, in order, and nothing else. */
function expectProblems(found: readonly Found[] | undefined, expected: readonly Expected[]): void {
  const actual = (found ?? []).map(({ line, column, message }) => ({ line, column, message }));
  expect(actual, JSON.stringify(actual, null, 2)).toHaveLength(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i] as Expected;
    expect({ line: a.line, column: a.column }).toEqual({ line: e.line, column: e.column });
    expect(a.message).toContain(e.message);
  });
}

const expectedByFile = JSON.parse(readFileSync(join(ROOT, BAD, "expected.json"), "utf8")) as Record<
  string,
  Expected[]
>;
const fixtures = readdirSync(join(ROOT, BAD))
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("the bad template corpus", () => {
  let human: CliResult;
  let json: CliResult;
  let humanByFile: Map<string, Found[]>;
  let jsonByFile: Map<string, Found[]>;

  beforeAll(async () => {
    const files = fixtures.map((f) => `${BAD}/${f}`);
    [human, json] = await Promise.all([
      runCli(["validate", ...files]),
      runCli(["validate", "--json", ...files]),
    ]);
    humanByFile = groupByFile(parseProblemLines(human.stderr));
    jsonByFile = groupByFile((JSON.parse(json.stdout) as { problems: Found[] }).problems);
  });

  it("holds at least 45 fixtures, each with its expected problems listed", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(45);
    expect(Object.keys(expectedByFile).sort()).toEqual(fixtures);
    for (const f of fixtures) expect(expectedByFile[f]?.length, f).toBeGreaterThan(0);
  });

  it("exits 1 without a crash, a stack trace or a hang", () => {
    expectNoCrash(human);
    expectNoCrash(json);
    expect(human.code).toBe(1);
    expect(json.code).toBe(1);
    expect(human.stdout).toBe("");
  });

  it("prints the same problems with --json as on stderr", () => {
    expect(json.stderr).toBe("");
    expect([...jsonByFile.entries()]).toEqual([...humanByFile.entries()]);
  });

  it.each(fixtures)("reports exactly the expected problems of %s", (fixture) => {
    const expected = expectedByFile[fixture] ?? [];
    expectProblems(humanByFile.get(`${BAD}/${fixture}`), expected);
  });

  it("answers a fixture checked alone with exit 1 and the same problems", async () => {
    const fixture = "52-many-problems.yaml";
    const alone = await runCli(["validate", `${BAD}/${fixture}`]);
    expectNoCrash(alone);
    expect(alone.code).toBe(1);
    expectProblems(groupByFile(parseProblemLines(alone.stderr)).get(`${BAD}/${fixture}`), [
      ...(expectedByFile[fixture] ?? []),
    ]);
  });
});

describe("generated bad templates", () => {
  let dir: string;
  let result: CliResult;
  let byFile: Map<string, Found[]>;
  const TEMPLATE = "servers:\n  - name: web\n    provider: sim\n    type: small\n";

  /** Files too big, binary or odd to commit, with the one problem each must get. */
  const cases: ReadonlyArray<{ name: string; content: () => Uint8Array | string; expected: Expected }> = [
    {
      name: "ten-megabytes.yaml",
      content: () => TEMPLATE + "    # padding\n".repeat(800_000),
      expected: { line: 1, column: 1, message: "template is 10.7 MB; a template may be at most 1.0 MB" },
    },
    {
      name: "binary-garbage.yaml",
      content: () => {
        const bytes = new Uint8Array(4096);
        let x = 0x2545f491;
        for (let i = 0; i < bytes.length; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          bytes[i] = x & 0xff;
        }
        bytes.set([0x7f, 0x45, 0x4c, 0x46], 0); // an ELF header
        return bytes;
      },
      expected: { line: 1, column: 1, message: "binary data: control character 0x7f found" },
    },
    {
      name: "empty.yaml",
      content: () => "",
      expected: {
        line: 1,
        column: 1,
        message: "template is empty; expected a mapping with at least `servers:`",
      },
    },
    {
      name: "only-comments.yaml",
      content: () => "# a template\n\n   \n# nothing else\n",
      expected: { line: 1, column: 1, message: "template is empty" },
    },
    {
      name: "utf16-with-bom.yaml",
      content: () => new Uint8Array([0xff, 0xfe, ...Buffer.from(TEMPLATE, "utf16le")]),
      expected: { line: 1, column: 1, message: "UTF-16 byte order mark; save the template as UTF-8" },
    },
    {
      name: "utf16-without-bom.yaml",
      content: () => new Uint8Array(Buffer.from(TEMPLATE, "utf16le")),
      expected: { line: 1, column: 1, message: "looks like UTF-16" },
    },
    {
      name: "latin1.yaml",
      content: () => new Uint8Array(Buffer.from(`${TEMPLATE}    user_data: echo café\n`, "latin1")),
      expected: { line: 5, column: 24, message: "not UTF-8 text: byte 0xe9 cannot start a character" },
    },
    {
      name: "nul-byte.yaml",
      content: () => `${TEMPLATE}    user_data: echo a\u0000b\n`,
      expected: { line: 5, column: 22, message: "binary data: control character 0x00 found" },
    },
    {
      name: "nesting-100k-deep.yaml",
      content: () => `${TEMPLATE}    options:\n      seed: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`,
      // The root mapping is level 1, so the 29th `[` (column 13 + 28) is level 33.
      expected: { line: 6, column: 41, message: "nesting is deeper than 32 levels" },
    },
    {
      name: "many-aliases.yaml",
      content: () =>
        `vars:\n  size: &size small\n${TEMPLATE}    options:\n      seed: [${"*size, ".repeat(60_000)}1]\n`,
      expected: {
        line: 8,
        column: 13,
        message: "options.seed: expected a whole number from 0 to 2147483647",
      },
    },
    {
      name: "many-keys.yaml",
      content: () =>
        `${TEMPLATE}    options:\n      boot_ms: 1\n${Array.from({ length: 60_000 }, (_, i) => `      k${i}: 1\n`).join("")}      boot_ms: 2\n`,
      expected: { line: 60_007, column: 7, message: "duplicate key `boot_ms` (first at line 6)" },
    },
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-bad-"));
    for (const c of cases) await writeFile(join(dir, c.name), c.content());
    result = await runCli(["validate", ...cases.map((c) => join(dir, c.name))]);
    byFile = groupByFile(parseProblemLines(result.stderr));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 1 without a crash, a stack trace or a hang", () => {
    expectNoCrash(result);
    expect(result.code).toBe(1);
  });

  it.each(cases.map((c) => [c.name, c] as const))("reports one problem for %s", (_, c) => {
    expectProblems(byFile.get(join(dir, c.name)), [c.expected]);
  });
});

describe("the seed template, verbatim", () => {
  it("fails at line 1 column 1 saying tabs cannot indent YAML", async () => {
    const file = "test/fixtures/seed/seed-verbatim.yaml";
    const result = await runCli(["validate", file]);
    expectNoCrash(result);
    expect(result.code).toBe(1);
    const found = parseProblemLines(result.stderr);
    expect(found[0]).toMatchObject({ file, line: 1, column: 1 });
    expect(found[0]?.message).toMatch(/^tabs cannot indent YAML/);
  });
});

describe("validate on good templates", () => {
  const examples = readdirSync(join(ROOT, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => `examples/${f}`);

  it("exits 0 for every example and says each is valid", async () => {
    expect(examples.length).toBeGreaterThan(0);
    const result = await runCli(["validate", ...examples]);
    expectNoCrash(result);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("valid");
    for (const f of examples) expect(result.stderr).toContain(f);
  });

  it("prints valid: true and no problems with --json", async () => {
    const result = await runCli(["validate", "--json", "examples/team-stack.yaml"]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ valid: true, problems: [] });
  });
});

describe("validate --json", () => {
  it("prints valid and every problem with file, line, column and message only", async () => {
    const file = `${BAD}/27-bad-settings.yaml`;
    const result = await runCli(["validate", "--json", file]);
    expect(result.code).toBe(1);
    const out = JSON.parse(result.stdout) as { valid: unknown; problems: Array<Record<string, unknown>> };
    expect(Object.keys(out).sort()).toEqual(["problems", "valid"]);
    expect(out.valid).toBe(false);
    expect(out.problems).toHaveLength(3);
    for (const p of out.problems) {
      expect(Object.keys(p).sort()).toEqual(["column", "file", "line", "message"]);
      expect(p.file).toBe(file);
      expect(typeof p.line).toBe("number");
      expect(typeof p.column).toBe("number");
      expect(typeof p.message).toBe("string");
    }
  });
});

describe("validate called wrongly", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-usage-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 2 naming a missing file", async () => {
    const missing = join(dir, "missing.yaml");
    const result = await runCli(["validate", missing]);
    expectNoCrash(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot read ${missing}: no such file`);
  });

  it("exits 2 for a directory", async () => {
    const result = await runCli(["validate", dir]);
    expectNoCrash(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("is a directory, expected a file");
  });

  it("exits 2 with the usage when no file is given", async () => {
    const result = await runCli(["validate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("give at least one template FILE");
    expect(result.stderr).toContain("Usage: teamstack validate FILE...");
  });

  it("exits 2 with the usage for an unknown flag", async () => {
    const result = await runCli(["validate", "--strict", "examples/team-stack.yaml"]);
    expectNoCrash(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--strict");
    expect(result.stderr).toContain("Usage: teamstack validate FILE...");
  });
});

describe("--help", () => {
  it.each([
    ["validate", "Usage: teamstack validate FILE..."],
    ["plan", "Usage: teamstack plan FILE"],
    ["render", "Usage: teamstack render FILE"],
  ])("shows the usage of %s and exits 0", async (command, usage) => {
    const result = await runCli([command, "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(usage);
    expect(result.stdout).toContain("-h, --help");
  });
});
