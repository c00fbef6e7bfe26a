import { describe, expect, it } from "vitest";
import {
  LIMITS,
  parseYamlTree,
  type RawProblem,
  type YMap,
  type YNode,
  type YScalar,
  type YSeq,
} from "../../../src/core/yaml-tree.ts";

const yaml = (...lines: string[]): string => `${lines.join("\n")}\n`;

function tree(text: string): YNode {
  const { root, problems } = parseYamlTree(text);
  expect(problems).toEqual([]);
  expect(root).toBeDefined();
  return root as YNode;
}

function problems(text: string): RawProblem[] {
  const result = parseYamlTree(text);
  expect(result.root).toBeUndefined();
  return result.problems;
}

/** The one problem of a text, with its offset as the text it points at. */
function only(text: string): { at: string; message: string } {
  const found = problems(text);
  expect(found).toHaveLength(1);
  const p = found[0] as RawProblem;
  return { at: text.slice(p.offset, p.offset + 12), message: p.message };
}

function get(node: YNode, key: string): YNode {
  expect(node.kind).toBe("map");
  const entry = (node as YMap).entries.find((e) => e.key.value === key);
  expect(entry, `key ${key}`).toBeDefined();
  return entry?.value as YNode;
}

describe("parseYamlTree: the tree", () => {
  it("keeps each scalar's value, style and source span", () => {
    const text = yaml(
      "a: plain",
      "b: 'single'",
      'c: "double"',
      "d: |",
      "  literal",
      "e: >",
      "  folded",
      "f: 42",
    );
    const root = tree(text);
    const styles = (root as YMap).entries.map((e) => [e.key.value, (e.value as YScalar).style]);
    expect(styles).toEqual([
      ["a", "plain"],
      ["b", "single"],
      ["c", "double"],
      ["d", "literal"],
      ["e", "folded"],
      ["f", "plain"],
    ]);
    const b = get(root, "b") as YScalar;
    expect(text.slice(b.start, b.end)).toBe("'single'");
    expect(b.value).toBe("single");
    expect((get(root, "d") as YScalar).value).toBe("literal\n");
    expect((get(root, "f") as YScalar).value).toBe(42);
  });

  it("reads keys as names: `1`, `true` and `null` as written", () => {
    const root = tree(yaml("1: a", "true: b", "null: c")) as YMap;
    expect(root.entries.map((e) => e.key.value)).toEqual(["1", "true", "null"]);
  });

  it("resolves an alias to its anchor's node", () => {
    const root = tree(yaml("a: &x [1, 2]", "b: *x"));
    expect(get(root, "b")).toBe(get(root, "a"));
    expect((get(root, "b") as YSeq).items).toHaveLength(2);
  });

  it("resolves an alias to the latest anchor of its name before it", () => {
    const root = tree(yaml("a: &x one", "b: &x two", "c: *x"));
    expect((get(root, "c") as YScalar).value).toBe("two");
  });

  it("keeps a `__proto__` key as an entry and changes no prototype", () => {
    const root = tree(yaml("__proto__: { polluted: true }", "constructor: x")) as YMap;
    expect(root.entries.map((e) => e.key.value)).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("accepts the core schema's own tags", () => {
    expect((get(tree(yaml("a: !!str 42")), "a") as YScalar).value).toBe("42");
  });

  it("returns no root and no problem for a text without a document", () => {
    expect(parseYamlTree("# nothing\n")).toEqual({ root: undefined, problems: [] });
    expect(parseYamlTree("")).toEqual({ root: undefined, problems: [] });
  });
});

describe("parseYamlTree: problems at the offending text", () => {
  it("reports a duplicate key at the second one, naming the line of the first", () => {
    expect(only(yaml("a: 1", "b: 2", "a: 3"))).toEqual({
      at: "a: 3\n",
      message: "duplicate key `a` (first at line 1): each key may appear only once in a mapping",
    });
  });

  it("finds duplicate keys among 60,000 keys", () => {
    const keys = Array.from({ length: 60_000 }, (_, i) => `k${i}: ${i}`);
    const found = problems(yaml(...keys, "k7: again"));
    expect(found.map((p) => p.message)).toEqual([
      expect.stringContaining("duplicate key `k7` (first at line 8)"),
    ]);
  });

  it("reports one problem for tabs, at the first tab-indented line, counting the others", () => {
    const text = "servers:\n\t- a\n\t- b\n\t- c\n";
    expect(only(text)).toEqual({
      at: "\t- a\n\t- b\n\t-",
      message:
        "tabs cannot indent YAML: this line is indented with a tab (and so are 2 more lines); indent with spaces",
    });
  });

  it("points an unclosed quote at where it opens", () => {
    expect(only(yaml("a:", '  b: "open', "  c: d"))).toMatchObject({
      at: '"open\n  c: d',
      message: expect.stringContaining('has no closing `"`'),
    });
  });

  it("points an unclosed bracket at where it opens", () => {
    expect(only(yaml("a: { b: [1, 2 }", "c: d"))).toMatchObject({
      at: "{ b: [1, 2 }",
      message: expect.stringContaining("this `{` is never closed"),
    });
    expect(only(yaml("a: [1, 2", "c: d"))).toMatchObject({
      at: "[1, 2\nc: d\n",
      message: expect.stringContaining("this `[` is never closed; expected a `]`"),
    });
  });

  it("points a closing bracket without an opening one at that bracket", () => {
    expect(only(yaml("a: [1, 2]]"))).toEqual({
      at: "]\n",
      message: "YAML syntax: this `]` closes nothing: no `[` is open here",
    });
  });

  it("points an over-indented line at that line, naming the value above", () => {
    expect(only(yaml("server:", "  provider: aws", "    type: t3.micro"))).toEqual({
      at: "type: t3.mic",
      message:
        "YAML syntax: bad indentation: this line is indented more than `provider:` above it, so it would continue that value; indent it like the keys above",
    });
  });

  it("points a list item among mapping keys at the item", () => {
    expect(only(yaml("server:", "  depends_on: db", "  - cache"))).toMatchObject({
      at: "- cache\n",
      message: expect.stringContaining("a list item (`- cache`) cannot stand among the keys of a mapping"),
    });
  });

  it("reports a second document at its `---`", () => {
    expect(only(yaml("a: 1", "---", "b: 2"))).toMatchObject({
      at: "---\nb: 2\n",
      message: expect.stringContaining("second YAML document"),
    });
  });

  it("reports an unsupported tag at the tag, as written", () => {
    expect(only(yaml("a: !!binary |", "  aGk="))).toEqual({
      at: "!!binary |\n ",
      message: "tag `!!binary` is not supported; templates use plain YAML values without tags",
    });
    expect(only(yaml("a: !Ref b"))).toEqual({
      at: "!Ref b\n",
      message: "tag `!Ref` is not supported; templates use plain YAML values without tags",
    });
  });

  it("reports an alias without an anchor", () => {
    expect(only(yaml("a: *nowhere"))).toEqual({
      at: "*nowhere\n",
      message: "alias `*nowhere` has no anchor: expected `&nowhere` on a value before it",
    });
  });

  it("reports an alias inside the value it names", () => {
    expect(only(yaml("a: &x [1, *x]"))).toMatchObject({
      at: "*x]\n",
      message: expect.stringContaining("contains it"),
    });
  });

  it("catches an alias bomb without expanding it", () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const [p, ...rest] = problems(yaml(...levels));
    expect(rest).toEqual([]);
    expect(p?.message).toContain(`expands to more than ${LIMITS.maxNodes} values`);
  });

  it("does not call a large document without aliases an alias bomb", () => {
    const root = tree(`a: [${"1, ".repeat(LIMITS.maxNodes)}1]\n`);
    expect((get(root, "a") as YSeq).items).toHaveLength(LIMITS.maxNodes + 1);
  });

  it("accepts nesting up to the limit and reports the first level past it", () => {
    // The root mapping is level 1; each `[` adds one.
    const ok = `a: ${"[".repeat(LIMITS.maxDepth - 1)}${"]".repeat(LIMITS.maxDepth - 1)}\n`;
    expect(tree(ok).kind).toBe("map");
    const deep = `a: ${"[".repeat(LIMITS.maxDepth)}${"]".repeat(LIMITS.maxDepth)}\n`;
    const [p, ...rest] = problems(deep);
    expect(rest).toEqual([]);
    expect(p?.offset).toBe(3 + LIMITS.maxDepth - 1);
    expect(p?.message).toBe(`nesting is deeper than ${LIMITS.maxDepth} levels; templates need only a few`);
  });

  it("reports 100,000 levels of nesting at the same place, without overflowing the stack", () => {
    const deep = `a: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`;
    const [p, ...rest] = problems(deep);
    expect(rest).toEqual([]);
    expect(p?.offset).toBe(3 + LIMITS.maxDepth - 1);
  });

  it("reports a key that is a list or a mapping", () => {
    expect(only(yaml("? [a, b]", ": c"))).toMatchObject({
      at: "[a, b]\n: c\n",
      message: "a mapping key must be a plain name, not a list or mapping",
    });
  });

  it("reports a missing key", () => {
    expect(only(yaml(": value"))).toMatchObject({
      message: "a key is missing before `:`; expected `name: value`",
    });
  });
});
