import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Node,
  parseDocument,
  type Scalar,
  type YAMLError,
} from "yaml";

/**
 * A YAML document reduced to what templates use (mappings, sequences, scalars), with source
 * offsets on every node. Aliases are resolved to their anchor's node, after checking that the
 * expansion stays small; unknown tags, deep nesting, duplicate keys and non-scalar keys are problems.
 */

/** Offsets into the source text (end exclusive). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export type ScalarValue = string | number | boolean | null;
export type ScalarStyle = "plain" | "single" | "double" | "literal" | "folded";

export interface YScalar extends Span {
  readonly kind: "scalar";
  readonly value: ScalarValue;
  readonly style: ScalarStyle;
}
export interface YEntry {
  readonly key: YScalar;
  readonly value: YNode;
}
export interface YMap extends Span {
  readonly kind: "map";
  readonly entries: readonly YEntry[];
}
export interface YSeq extends Span {
  readonly kind: "seq";
  readonly items: readonly YNode[];
}
export type YNode = YScalar | YMap | YSeq;

/** A problem at an offset of the source, before it gets a file name and a line. */
export interface RawProblem {
  readonly offset: number;
  readonly message: string;
}

export const LIMITS = {
  /** Deepest nesting of mappings and sequences. Templates need about 6. */
  maxDepth: 32,
  /** Most nodes the document may expand to once aliases are followed. */
  maxNodes: 200_000,
} as const;

const TAGS_ALLOWED = new Set([
  "tag:yaml.org,2002:str",
  "tag:yaml.org,2002:int",
  "tag:yaml.org,2002:float",
  "tag:yaml.org,2002:bool",
  "tag:yaml.org,2002:null",
  "tag:yaml.org,2002:map",
  "tag:yaml.org,2002:seq",
]);

const STYLE: Record<string, ScalarStyle> = {
  PLAIN: "plain",
  QUOTE_SINGLE: "single",
  QUOTE_DOUBLE: "double",
  BLOCK_LITERAL: "literal",
  BLOCK_FOLDED: "folded",
};

/**
 * Parses one YAML document into a YNode tree.
 * Returns `root: undefined` when the text holds no document or has syntax errors.
 */
export function parseYamlTree(text: string): { root: YNode | undefined; problems: RawProblem[] } {
  const doc = parseDocument(text, {
    schema: "core",
    uniqueKeys: true,
    merge: false,
    prettyErrors: false,
    strict: true,
    stringKeys: false,
  });
  const found = [...doc.errors, ...doc.warnings];
  if (found.length > 0) return { root: undefined, problems: syntaxProblems(found, text) };
  if (doc.contents === null) return { root: undefined, problems: [] };
  const problems: RawProblem[] = [];
  const root = convert(doc, doc.contents as Node, problems);
  return { root: problems.length > 0 ? undefined : root, problems };
}

/** Turns the yaml library's error into our words; keeps its position. */
function describeYamlError(error: YAMLError, text: string): RawProblem {
  const offset = error.pos[0];
  const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").trim();
  switch (error.code) {
    case "TAB_AS_INDENT":
      return {
        offset,
        message: "tabs cannot indent YAML: found a tab in the indentation; indent with spaces",
      };
    case "DUPLICATE_KEY": {
      const key = /^[^:\n]*/.exec(text.slice(offset))?.[0]?.trim() ?? "";
      return { offset, message: `duplicate key \`${key}\`: each key may appear only once in a mapping` };
    }
    case "MULTIPLE_DOCS":
      return { offset, message: "found a second YAML document (`---`); a template is exactly one document" };
    case "TAG_RESOLVE_FAILED":
      return { offset, message: `${message}; templates use plain YAML values without tags` };
    case "RESOURCE_EXHAUSTION":
      return {
        offset,
        message: `nesting is too deep to read; templates may nest at most ${LIMITS.maxDepth} levels`,
      };
    case "BAD_ALIAS":
      return { offset, message: `${message}; an alias \`*name\` must follow its anchor \`&name\`` };
    default:
      return { offset, message: `YAML syntax: ${lowerFirst(message)}` };
  }
}

function lowerFirst(s: string): string {
  return s.length > 0 ? (s[0] as string).toLowerCase() + s.slice(1) : s;
}

/**
 * Syntax problems in our words. Tabs get one problem, at the first tab-indented line, counting the
 * others; what the parser says about the other tab-indented lines only follows from the tabs.
 */
function syntaxProblems(errors: readonly YAMLError[], text: string): RawProblem[] {
  const tabbed = errors.filter((e) => e.code === "TAB_AS_INDENT");
  if (tabbed.length === 0)
    return dedupeByLine(
      errors.map((e) => describeYamlError(e, text)),
      text,
    );
  const tabLines = new Set<number>();
  const lineStarts = [...text.matchAll(/^\t/gm)].map((m) => m.index);
  for (const start of lineStarts) tabLines.add(start);
  const first = tabbed.reduce((a, b) => (b.pos[0] < a.pos[0] ? b : a));
  const firstLineStart = text.lastIndexOf("\n", first.pos[0] - 1) + 1;
  const others = errors.filter((e) => {
    const lineStart = text.lastIndexOf("\n", e.pos[0] - 1) + 1;
    return e.code !== "TAB_AS_INDENT" && !tabLines.has(lineStart) && lineStart !== firstLineStart;
  });
  const count = Math.max(tabLines.size, 1);
  const tab: RawProblem = {
    offset: first.pos[0],
    message: `tabs cannot indent YAML: this line is indented with a tab${count > 1 ? ` (and so are ${count - 1} more lines)` : ""}; indent with spaces`,
  };
  return dedupeByLine([tab, ...others.map((e) => describeYamlError(e, text))], text);
}

/** One problem per line: a broken line makes the parser repeat itself. */
function dedupeByLine(problems: RawProblem[], text: string): RawProblem[] {
  const seen = new Set<number>();
  const out: RawProblem[] = [];
  for (const p of [...problems].sort((a, b) => a.offset - b.offset)) {
    const lineStart = text.lastIndexOf("\n", p.offset - 1) + 1;
    if (seen.has(lineStart)) continue;
    seen.add(lineStart);
    out.push(p);
  }
  return out;
}

interface Frame {
  readonly node: Node;
  readonly depth: number;
  readonly assign: (value: YNode) => void;
}

/**
 * Converts the yaml AST without recursion. Aliases point at their anchor's converted node; the
 * expanded size of every anchored node is computed once, so an alias bomb is caught before
 * anything is expanded.
 */
function convert(doc: Document, top: Node, problems: RawProblem[]): YNode | undefined {
  checkExpansion(doc, top, problems);
  if (problems.length > 0) return undefined;
  const converted = new Map<Node, YNode>();
  let result: YNode | undefined;
  const stack: Frame[] = [{ node: top, depth: 1, assign: (v) => (result = v) }];
  const pending: Array<() => void> = [];
  while (stack.length > 0) {
    const { node, depth, assign } = stack.pop() as Frame;
    const [start, end] = node.range ?? [0, 0];
    if (isAlias(node)) {
      const target = (node as Alias).resolve(doc);
      // Anchored nodes come earlier in the document, so they are converted after this frame
      // only when nested inside it; resolve once everything is built.
      pending.push(() => {
        const value = target ? converted.get(target) : undefined;
        if (value) assign(value);
      });
      continue;
    }
    if (depth > LIMITS.maxDepth && (isMap(node) || isSeq(node))) {
      problems.push({
        offset: start,
        message: `nesting is deeper than ${LIMITS.maxDepth} levels; templates need only a few`,
      });
      continue;
    }
    if (node.tag !== undefined && !TAGS_ALLOWED.has(node.tag)) {
      problems.push({ offset: start, message: `tag \`${node.tag}\` is not supported; remove it` });
      continue;
    }
    if (isScalar(node)) {
      const value = node.value;
      if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
        problems.push({ offset: start, message: "expected a string, number or boolean" });
        continue;
      }
      const y: YScalar = {
        kind: "scalar",
        value: value as ScalarValue,
        style: STYLE[node.type ?? "PLAIN"] ?? "plain",
        start,
        end,
      };
      converted.set(node, y);
      assign(y);
      continue;
    }
    if (isMap(node)) {
      const entries: YEntry[] = [];
      const y: YMap = { kind: "map", entries, start, end };
      converted.set(node, y);
      assign(y);
      node.items.forEach((pair, i) => {
        const key = pair.key as Node | null;
        if (key === null || !isScalar(key) || (key.value !== null && typeof key.value === "object")) {
          const offset = key?.range?.[0] ?? start;
          problems.push({ offset, message: "a mapping key must be a plain name, not a list or mapping" });
          return;
        }
        const k = key as Scalar;
        const [ks, ke] = k.range ?? [start, start];
        const keyNode: YScalar = {
          kind: "scalar",
          value: k.value === null ? "" : String(k.value),
          style: STYLE[k.type ?? "PLAIN"] ?? "plain",
          start: ks,
          end: ke,
        };
        const placeholder: YScalar = { kind: "scalar", value: null, style: "plain", start: ke, end: ke };
        entries.push({ key: keyNode, value: placeholder });
        const value = pair.value as Node | null;
        if (value !== null) {
          stack.push({
            node: value,
            depth: depth + 1,
            assign: (v) => (entries[i] = { key: keyNode, value: v }),
          });
        }
      });
      continue;
    }
    if (isSeq(node)) {
      const items: YNode[] = [];
      const y: YSeq = { kind: "seq", items, start, end };
      converted.set(node, y);
      assign(y);
      node.items.forEach((item, i) => {
        const child = item as Node | null;
        items.push({ kind: "scalar", value: null, style: "plain", start, end: start });
        if (child !== null) stack.push({ node: child, depth: depth + 1, assign: (v) => (items[i] = v) });
      });
      continue;
    }
    problems.push({ offset: start, message: "unsupported YAML node" });
  }
  for (const resolve of pending) resolve();
  return result;
}

/**
 * Size of each node once aliases are expanded, without expanding them: a node's size is one plus
 * its children's, an alias's size is its target's. Reports the first alias that would make the
 * document larger than `LIMITS.maxNodes`.
 */
function checkExpansion(doc: Document, top: Node, problems: RawProblem[]): void {
  const size = new Map<Node, number>();
  const open = new Set<Node>();
  // Depth-first, without recursion. An alias's child is its anchor's node, so an alias is sized
  // after what it points at.
  const stack: Array<{ node: Node; children: Node[]; next: number }> = [
    { node: top, children: childrenOf(doc, top), next: 0 },
  ];
  open.add(top);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as { node: Node; children: Node[]; next: number };
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++] as Node;
      if (size.has(child)) continue;
      if (open.has(child)) {
        problems.push({
          offset: child.range?.[0] ?? 0,
          message: "an alias refers to a node that contains it",
        });
        return;
      }
      open.add(child);
      stack.push({ node: child, children: childrenOf(doc, child), next: 0 });
      continue;
    }
    stack.pop();
    const { node, children } = frame;
    open.delete(node);
    let n = isAlias(node) ? 0 : 1;
    for (const c of children) n += size.get(c) ?? 1;
    size.set(node, n);
    if (n > LIMITS.maxNodes) {
      problems.push({
        offset: node.range?.[0] ?? 0,
        message: isAlias(node)
          ? `alias \`*${(node as Alias).source}\` expands to more than ${LIMITS.maxNodes} values (an alias bomb); use fewer or smaller aliases`
          : `this expands to more than ${LIMITS.maxNodes} values once aliases are followed (an alias bomb); use fewer aliases`,
      });
      return;
    }
  }
}

function childrenOf(doc: Document, node: Node): Node[] {
  if (isAlias(node)) {
    const target = (node as Alias).resolve(doc);
    return target ? [target as Node] : [];
  }
  if (isMap(node)) {
    const out: Node[] = [];
    for (const p of node.items) {
      if (p.key && typeof p.key === "object") out.push(p.key as Node);
      if (p.value && typeof p.value === "object") out.push(p.value as Node);
    }
    return out;
  }
  if (isSeq(node)) return node.items.filter((i): i is Node => i !== null && typeof i === "object");
  return [];
}
