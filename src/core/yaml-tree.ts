import {
  type Alias,
  type CST,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Node,
  Parser,
  parseDocument,
  type Scalar,
  type YAMLError,
} from "yaml";
import { LineIndex } from "./source.ts";

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
    // The library's own check compares every key with every other: minutes for a mapping of 100k
    // keys. Duplicates are found while converting instead.
    uniqueKeys: false,
    merge: false,
    prettyErrors: false,
    strict: true,
    stringKeys: false,
  });
  const found = [...doc.errors, ...doc.warnings];
  if (found.length > 0) return { root: undefined, problems: syntaxProblems(found, text) };
  if (doc.contents === null) return { root: undefined, problems: [] };
  const problems: RawProblem[] = [];
  const root = convert(doc.contents as Node, problems, text);
  return { root: problems.length > 0 ? undefined : root, problems };
}

/** Turns the yaml library's error into our words, at the offending text. */
function describeYamlError(error: YAMLError, text: string, cst: CstIndex): RawProblem {
  const offset = error.pos[0];
  const message = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").trim();
  switch (error.code) {
    case "TAB_AS_INDENT":
      return {
        offset,
        message: "tabs cannot indent YAML: found a tab in the indentation; indent with spaces",
      };
    case "MULTIPLE_DOCS":
      return { offset, message: "found a second YAML document (`---`); a template is exactly one document" };
    case "TAG_RESOLVE_FAILED": {
      const tag = /^!\S*/.exec(text.slice(offset))?.[0] ?? message;
      return { offset, message: unsupportedTag(tag) };
    }
    case "RESOURCE_EXHAUSTION":
      return {
        offset: cst.tooDeep() ?? offset,
        message: `nesting is deeper than ${LIMITS.maxDepth} levels; templates need only a few`,
      };
    case "BAD_ALIAS":
      return { offset, message: `${message}; an alias \`*name\` must follow its anchor \`&name\`` };
    case "BLOCK_AS_IMPLICIT_KEY": {
      if (/^A block sequence may not be used as an implicit map key/.test(message)) {
        const at = firstNonBlank(text, offset);
        return { offset: at, message: listAmongKeys(lineFrom(text, at)) };
      }
      const value = lineFrom(text, offset);
      return {
        offset,
        message: `YAML syntax: \`${value}\` holds a \`: \`, which would start a mapping inside a one-line value; quote the value, or put the mapping on its own indented lines`,
      };
    }
    case "MULTILINE_IMPLICIT_KEY": {
      const line = lineFrom(text, offset);
      return {
        offset,
        message: line.startsWith("- ")
          ? listAmongKeys(line)
          : `YAML syntax: \`${line}\` is not a \`key: value\` pair (is a \`:\` missing?), so it runs into the next line`,
      };
    }
    case "UNEXPECTED_TOKEN": {
      const bracket = /^Unexpected flow-(?:seq|map)-end token/.test(message) ? text[offset] : undefined;
      if (bracket !== undefined)
        return {
          offset,
          message: `YAML syntax: this \`${bracket}\` closes nothing: no \`${bracket === "]" ? "[" : "{"}\` is open here`,
        };
      if (/^Unexpected scalar at node end/.test(message) && firstNonBlank(text, offset) === offset)
        return {
          offset,
          message: `YAML syntax: \`${lineFrom(text, offset)}\` cannot follow the list above at the same indentation; a list and a mapping cannot share a level`,
        };
      if (/^Unexpected scalar at node end/.test(message))
        return {
          offset,
          message: `YAML syntax: \`${lineFrom(text, offset)}\` follows a complete value; quote the whole value, or remove it`,
        };
      if (/^Unexpected block-seq-ind on same line with key/.test(message))
        return {
          offset,
          message: `YAML syntax: a list cannot start on the same line as its key; put \`${lineFrom(text, offset)}\` on the next line, indented`,
        };
      if (/^Unexpected \S+ (token in YAML stream|at node end)/.test(message)) {
        const found = lineFrom(text.slice(0, Math.max(error.pos[1], offset + 1)), offset);
        return {
          offset,
          message: `YAML syntax: unexpected \`${found}\` here; check the indentation of this line and of the line above`,
        };
      }
      break;
    }
    case "BAD_SCALAR_START":
      return { offset, message: `YAML syntax: ${lowerFirst(message)}; quote the value` };
    case "BAD_DQ_ESCAPE":
      return {
        offset,
        message: `YAML syntax: ${lowerFirst(message)} in a double-quoted string; write \\\\ for a backslash, or use single quotes`,
      };
    case "MISSING_CHAR": {
      const quote = /^Missing closing (["'])quote/.exec(message)?.[1];
      const opened = quote === undefined ? undefined : cst.unclosedQuote(quote, offset);
      if (quote !== undefined && opened !== undefined)
        return {
          offset: opened,
          message: `YAML syntax: this string has no closing \`${quote}\`; close the quote on the same value`,
        };
      if (/^Implicit map keys need to be followed by map values/.test(message))
        return {
          offset,
          message: `YAML syntax: \`${lineFrom(text, offset)}\` is a key without \`:\`; expected \`key: value\``,
        };
      if (/^Sequence item without - indicator/.test(message))
        return {
          offset: firstNonBlank(text, offset),
          message:
            "YAML syntax: bad indentation: this line is indented less than the keys of the list item above it; indent it like them, or start a new item with `- `",
        };
      break;
    }
    case "BAD_INDENT": {
      const flow = /^Flow (map|sequence) in block collection/.exec(message)?.[1];
      const opened = flow === undefined ? undefined : cst.unclosedFlow(flow === "map" ? "{" : "[", offset);
      if (flow !== undefined && opened !== undefined) {
        const [open, close] = flow === "map" ? ["{", "}"] : ["[", "]"];
        return {
          offset: opened,
          message: `YAML syntax: this \`${open}\` is never closed; expected a \`${close}\` (lines inside it must also be indented more than its key)`,
        };
      }
      if (/^All sequence items must start at the same column/.test(message))
        return {
          offset: firstNonBlank(text, offset),
          message: "YAML syntax: bad indentation: this list item does not line up with the items of its list",
        };
      if (/^All mapping items must start at the same column/.test(message))
        return {
          offset: firstNonBlank(text, offset),
          message: "YAML syntax: bad indentation: this key does not line up with the keys of its mapping",
        };
      break;
    }
  }
  return { offset, message: `YAML syntax: ${lowerFirst(message)}` };
}

function listAmongKeys(line: string): string {
  return `YAML syntax: a list item (\`${line}\`) cannot stand among the keys of a mapping; put the whole list on the lines under its key, indented`;
}

function unsupportedTag(tag: string): string {
  return `tag \`${tag}\` is not supported; templates use plain YAML values without tags`;
}

/** The rest of the line from `offset`, trimmed and shortened for a message. */
function lineFrom(text: string, offset: number): string {
  const eol = text.indexOf("\n", offset);
  const line = text.slice(offset, eol === -1 ? text.length : eol).trim();
  return line.length > 40 ? `${line.slice(0, 40)}...` : line;
}

/** The first character of the line holding `offset` that is not a space. */
function firstNonBlank(text: string, offset: number): number {
  let i = text.lastIndexOf("\n", offset - 1) + 1;
  while (text[i] === " ") i++;
  return i;
}

function lowerFirst(s: string): string {
  return s.length > 0 ? (s[0] as string).toLowerCase() + s.slice(1) : s;
}

/**
 * Syntax problems in our words. Tabs get one problem, at the first tab-indented line, counting the
 * others; what the parser says about the other tab-indented lines only follows from the tabs.
 */
function syntaxProblems(errors: readonly YAMLError[], text: string): RawProblem[] {
  const cst = new CstIndex(text);
  // A line indented deeper than the `key: value` above it: the parser reports the value as a
  // multi-line key; say it once, at the over-indented line.
  const blockAsKey = new Set(errors.filter((e) => e.code === "BLOCK_AS_IMPLICIT_KEY").map((e) => e.pos[0]));
  const overIndented = new Map<number, number>();
  for (const e of errors) {
    if (e.code === "MULTILINE_IMPLICIT_KEY" && blockAsKey.has(e.pos[0])) overIndented.set(e.pos[0], e.pos[1]);
  }
  const describeAll = (list: readonly YAMLError[]): RawProblem[] =>
    list.flatMap((e) => {
      const end = overIndented.get(e.pos[0]);
      if (end === undefined) return [describeYamlError(e, text, cst)];
      if (e.code !== "BLOCK_AS_IMPLICIT_KEY") return [];
      const above = text.slice(text.lastIndexOf("\n", e.pos[0] - 1) + 1, e.pos[0]).trim();
      return [
        {
          offset: firstNonBlank(text, end - 1),
          message: `YAML syntax: bad indentation: this line is indented more than \`${above}\` above it, so it would continue that value; indent it like the keys above`,
        },
      ];
    });
  const tabbed = errors.filter((e) => e.code === "TAB_AS_INDENT");
  if (tabbed.length === 0) return dedupeByLine(describeAll(errors), text);
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
  return dedupeByLine([tab, ...describeAll(others)], text);
}

/**
 * The yaml library's concrete syntax tree, read only when a problem needs a better position than
 * the parser's (an unclosed quote or bracket is reported where the parser gave up, not where it
 * was opened). Walked without recursion: it may be nested thousands deep.
 */
class CstIndex {
  readonly #text: string;
  #tokens: Array<{ token: CST.Token; depth: number }> | undefined;
  #tags: SourceSpot[] | undefined;
  #unclosed: Map<string, SourceSpot[]> | undefined;
  #quoted: Map<string, SourceSpot[]> | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  /** Every token in document order, with the depth of collections (the top one is 1). */
  tokens(): Array<{ token: CST.Token; depth: number }> {
    if (this.#tokens) return this.#tokens;
    const out: Array<{ token: CST.Token; depth: number }> = [];
    const stack: Array<{ token: CST.Token; depth: number }> = [];
    const top = [...new Parser().parse(this.#text)];
    for (let i = top.length - 1; i >= 0; i--) stack.push({ token: top[i] as CST.Token, depth: 0 });
    while (stack.length > 0) {
      const frame = stack.pop() as { token: CST.Token; depth: number };
      const t = frame.token;
      const collection = t.type === "block-map" || t.type === "block-seq" || t.type === "flow-collection";
      const depth = frame.depth + (collection ? 1 : 0);
      out.push({ token: t, depth });
      const children: CST.Token[] = [];
      if (t.type === "document") {
        children.push(...t.start);
        if (t.value) children.push(t.value);
      } else if (t.type === "block-map" || t.type === "block-seq" || t.type === "flow-collection") {
        if (t.type === "flow-collection") children.push(t.start);
        for (const item of t.items as CST.CollectionItem[]) {
          children.push(...item.start);
          if (item.key) children.push(item.key);
          if (item.sep) children.push(...item.sep);
          if (item.value) children.push(item.value);
        }
        if (t.type === "flow-collection") children.push(...t.end);
      } else if (t.type === "block-scalar") {
        children.push(...t.props);
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push({ token: children[i] as CST.Token, depth });
    }
    this.#tokens = out;
    return out;
  }

  /** Offset of the last `open` bracket before `before` that has no closing bracket. */
  unclosedFlow(open: "{" | "[", before: number): number | undefined {
    this.#unclosed ??= this.#spots((token) => {
      if (token.type !== "flow-collection") return undefined;
      const close = token.start.source === "{" ? "}" : "]";
      return token.end.some((e) => e.source === close) ? undefined : token.start;
    });
    return lastBefore(this.#unclosed.get(open) ?? [], before)?.offset;
  }

  /** Offset of the last string opened with `quote` before `before`. */
  unclosedQuote(quote: string, before: number): number | undefined {
    this.#quoted ??= this.#spots((token) =>
      token.type === "double-quoted-scalar" || token.type === "single-quoted-scalar"
        ? { offset: token.offset, source: token.source.slice(0, 1) }
        : undefined,
    );
    return lastBefore(this.#quoted.get(quote) ?? [], before)?.offset;
  }

  /** The spots `pick` finds among the tokens, in document order, by their source text. */
  #spots(pick: (token: CST.Token) => SourceSpot | undefined): Map<string, SourceSpot[]> {
    const bySource = new Map<string, SourceSpot[]>();
    for (const { token } of this.tokens()) {
      const spot = pick(token);
      if (!spot) continue;
      const list = bySource.get(spot.source) ?? [];
      list.push({ offset: spot.offset, source: spot.source });
      bySource.set(spot.source, list);
    }
    return bySource;
  }

  /** Offset of the first collection nested deeper than the limit. */
  tooDeep(): number | undefined {
    for (const { token, depth } of this.tokens()) {
      if (
        depth > LIMITS.maxDepth &&
        (token.type === "block-map" || token.type === "block-seq" || token.type === "flow-collection")
      )
        return token.offset;
    }
    return undefined;
  }

  /** The last tag written before `before` (a node's tag precedes it). */
  tagBefore(before: number): { offset: number; source: string } | undefined {
    this.#tags ??= this.tokens().flatMap(({ token }) =>
      token.type === "tag" ? [{ offset: token.offset, source: token.source }] : [],
    );
    return lastBefore(this.#tags, before);
  }
}

interface SourceSpot {
  readonly offset: number;
  readonly source: string;
}

/** The last spot (in a list sorted by offset) before `before`, by binary search. */
function lastBefore(spots: readonly SourceSpot[], before: number): SourceSpot | undefined {
  let lo = 0;
  let hi = spots.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((spots[mid] as SourceSpot).offset < before) lo = mid + 1;
    else hi = mid;
  }
  return spots[lo - 1];
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
function convert(top: Node, problems: RawProblem[], text: string): YNode | undefined {
  const anchors = resolveAliases(top);
  checkExpansion(anchors, top, problems);
  if (problems.length > 0) return undefined;
  const converted = new Map<Node, YNode>();
  let result: YNode | undefined;
  const stack: Frame[] = [{ node: top, depth: 1, assign: (v) => (result = v) }];
  const pending: Array<() => void> = [];
  let cst: CstIndex | undefined;
  let lines: LineIndex | undefined;
  while (stack.length > 0) {
    const { node, depth, assign } = stack.pop() as Frame;
    const [start, end] = node.range ?? [0, 0];
    if (isAlias(node)) {
      const target = anchors.get(node as Alias);
      if (!target) {
        const name = (node as Alias).source;
        problems.push({
          offset: start,
          message: `alias \`*${name}\` has no anchor: expected \`&${name}\` on a value before it`,
        });
        continue;
      }
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
      cst ??= new CstIndex(text);
      const written = cst.tagBefore(start);
      problems.push({
        offset: written?.offset ?? start,
        message: unsupportedTag(written?.source ?? node.tag.replace(/^tag:yaml\.org,2002:/, "!!")),
      });
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
      const seen = new Map<string, number>();
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
        if (k.value === null && ks === ke) {
          problems.push({ offset: ks, message: "a key is missing before `:`; expected `name: value`" });
          return;
        }
        const keyNode: YScalar = {
          kind: "scalar",
          // A key is a name: `null:`, `~:` and `true:` are the names as written.
          value: typeof k.value === "string" ? k.value : text.slice(ks, ke),
          style: STYLE[k.type ?? "PLAIN"] ?? "plain",
          start: ks,
          end: ke,
        };
        const first = seen.get(keyNode.value as string);
        if (first !== undefined) {
          lines ??= new LineIndex(text);
          problems.push({
            offset: ks,
            message: `duplicate key \`${keyNode.value}\` (first at line ${lines.position(first).line}): each key may appear only once in a mapping`,
          });
        } else seen.set(keyNode.value as string, ks);
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
function checkExpansion(anchors: Anchors, top: Node, problems: RawProblem[]): void {
  const size = new Map<Node, number>();
  /** Size of each node as written, counting an alias as one value. */
  const written = new Map<Node, number>();
  const open = new Set<Node>();
  // Depth-first, without recursion. An alias's child is its anchor's node, so an alias is sized
  // after what it points at.
  const stack: Array<{ node: Node; children: Node[]; next: number }> = [
    { node: top, children: childrenOf(anchors, top), next: 0 },
  ];
  open.add(top);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as { node: Node; children: Node[]; next: number };
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++] as Node;
      if (size.has(child)) continue;
      if (open.has(child)) {
        const alias = isAlias(frame.node) ? (frame.node as Alias) : undefined;
        problems.push({
          offset: (alias ?? child).range?.[0] ?? 0,
          message: alias
            ? `alias \`*${alias.source}\` refers to the value that contains it; a value cannot contain itself`
            : "an alias refers to a value that contains it; a value cannot contain itself",
        });
        return;
      }
      open.add(child);
      stack.push({ node: child, children: childrenOf(anchors, child), next: 0 });
      continue;
    }
    stack.pop();
    const { node, children } = frame;
    open.delete(node);
    let n = isAlias(node) ? 0 : 1;
    for (const c of children) n += size.get(c) ?? 1;
    size.set(node, n);
    // Without aliases a node is no bigger than its text, which the size limit already bounds.
    let own = 1;
    if (!isAlias(node)) for (const c of children) own += written.get(c) ?? 1;
    written.set(node, own);
    if (n > LIMITS.maxNodes && n > own) {
      problems.push({
        offset: node.range?.[0] ?? 0,
        message: isAlias(node)
          ? `alias \`*${(node as Alias).source}\` expands to more than ${LIMITS.maxNodes} values (an alias bomb); use fewer or smaller aliases`
          : `this ${isSeq(node) ? "list" : "mapping"} expands to more than ${LIMITS.maxNodes} values once its aliases are followed (an alias bomb); use fewer aliases`,
      });
      return;
    }
  }
}

/** What each alias points at: undefined when no anchor of its name comes before it. */
type Anchors = Map<Alias, Node | undefined>;

/**
 * Resolves every alias in one pass in document order: an alias points at the latest node anchored
 * with its name before it. (`Alias.resolve` walks the whole document for each alias: minutes for
 * a template of many aliases.)
 */
function resolveAliases(top: Node): Anchors {
  const anchors: Anchors = new Map();
  const latest = new Map<string, Node>();
  const stack: Node[] = [top];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (isAlias(node)) {
      anchors.set(node as Alias, latest.get((node as Alias).source));
      continue;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) latest.set(anchor, node);
    const children = childrenOf(anchors, node);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Node);
  }
  return anchors;
}

function childrenOf(anchors: Anchors, node: Node): Node[] {
  if (isAlias(node)) {
    const target = anchors.get(node as Alias);
    return target ? [target] : [];
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
