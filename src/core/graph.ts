/**
 * The dependency graph of a stack's servers: who depends on whom, cycles, and the plan
 * (topological order, levels, critical path).
 *
 * Everything here is iterative and linear in nodes + edges, so that a stack of many thousands of
 * servers (or a dependency chain 100,000 long) neither overflows the stack nor slows down.
 */

import { ERROR_NAMES } from "./error-names.ts";
import { TeamstackError } from "./errors.ts";
import { classify, findReferences } from "./interpolate.ts";
import type { ServerSpec } from "./template.ts";

/** A node of the graph: a name and the names of the nodes it depends on, in document order. */
export interface GraphNode {
  readonly name: string;
  readonly dependsOn: readonly string[];
}

/** A dependency on a name that no node has. */
export interface MissingDependency {
  /** The node that declares the dependency. */
  readonly node: string;
  /** The name it depends on. */
  readonly dependency: string;
}

/** What makes a graph impossible to plan; every field lists all occurrences found. */
export interface GraphProblems {
  /** Cycles as `findCycles` reports them. */
  readonly cycles: readonly (readonly string[])[];
  readonly missing: readonly MissingDependency[];
  /** Names given to more than one node. */
  readonly duplicates: readonly string[];
}

/**
 * A graph that cannot be planned: it has a cycle, a dependency on no node, or a name used twice.
 * The message has one line per problem; `problems` holds them as data.
 */
export class GraphError extends TeamstackError {
  readonly problems: GraphProblems;
  constructor(problems: GraphProblems, options?: ErrorOptions) {
    super(describeProblems(problems).join("\n"), options);
    this.name = ERROR_NAMES.GraphError;
    this.problems = problems;
  }
}

function describeProblems(problems: GraphProblems): string[] {
  const lines: string[] = [];
  for (const name of problems.duplicates)
    lines.push(`\`${name}\` is defined more than once; expected unique names`);
  for (const { node, dependency } of problems.missing) {
    lines.push(`\`${node}\` depends on \`${dependency}\`, but nothing is named \`${dependency}\``);
  }
  for (const cycle of problems.cycles) lines.push(describeCycle(cycle));
  return lines;
}

/** One line naming every member of a cycle, e.g. "dependency cycle: `a` → `b` → `a`". */
export function describeCycle(cycle: readonly string[]): string {
  if (cycle.length === 1) return `\`${cycle[0]}\` depends on itself`;
  return `dependency cycle: ${[...cycle, cycle[0]].map((name) => `\`${name}\``).join(" → ")}`;
}

/**
 * The servers a server depends on: those its user_data (and on_start) references, then its `depends_on`.
 * Referenced servers (`$servers.S.A`, `$koding.artifact.S.A`) come by first appearance, followed
 * by `depends_on` entries not already named; a self-reference is kept so validation can report it.
 */
export function serverDependencies(server: ServerSpec): string[] {
  const deps = new Set<string>();
  for (const text of [server.userData, server.onStart ?? ""]) {
    for (const ref of findReferences(text)) {
      const meaning = classify(ref);
      if (meaning.kind === "server") deps.add(meaning.server);
    }
  }
  for (const dep of server.dependsOn) deps.add(dep);
  return [...deps];
}

interface Indexed {
  /** Name to the index of the first node with that name. */
  readonly index: Map<string, number>;
  /** Per node: the indices of its known dependencies, de-duplicated, in order, self excluded. */
  readonly adjacency: number[][];
  readonly selfLoop: Uint8Array;
  /** Per node: its dependency names, de-duplicated, in order (unknown names included). */
  readonly names: string[][];
  /** Dependencies on names no node has, in document order. */
  readonly missing: MissingDependency[];
  /** Names given to more than one node, once per extra node. */
  readonly duplicates: string[];
}

function indexGraph(nodes: readonly GraphNode[]): Indexed {
  const n = nodes.length;
  const index = new Map<string, number>();
  const duplicates: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = (nodes[i] as GraphNode).name;
    if (index.has(name)) duplicates.push(name);
    else index.set(name, i);
  }
  const adjacency: number[][] = [];
  const names: string[][] = [];
  const missing: MissingDependency[] = [];
  const selfLoop = new Uint8Array(n);
  // mark[j] === i + 1 when node i already lists node j: de-duplicates without a Set per node.
  const mark = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i] as GraphNode;
    const edges: number[] = [];
    const depNames: string[] = [];
    let unknown: Set<string> | undefined;
    for (const dep of node.dependsOn) {
      const j = index.get(dep);
      if (j === undefined) {
        unknown ??= new Set();
        if (unknown.has(dep)) continue;
        unknown.add(dep);
        missing.push({ node: node.name, dependency: dep });
        depNames.push(dep);
        continue;
      }
      if (mark[j] === i + 1) continue;
      mark[j] = i + 1;
      depNames.push(dep);
      if (j === i || dep === node.name) selfLoop[i] = 1;
      else edges.push(j);
    }
    adjacency.push(edges);
    names.push(depNames);
  }
  return { index, adjacency, selfLoop, names, missing, duplicates };
}

/**
 * Strongly connected components (Tarjan), iteratively.
 * Returns each node's component id and the components of more than one node.
 */
function stronglyConnected(adjacency: readonly (readonly number[])[]): {
  componentOf: Int32Array;
  multi: number[][];
} {
  const n = adjacency.length;
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const componentOf = new Int32Array(n);
  const stack: number[] = [];
  const callNode: number[] = [];
  const callEdge: number[] = [];
  const multi: number[][] = [];
  let counter = 0;
  let components = 0;
  const enter = (v: number): void => {
    order[v] = counter;
    low[v] = counter;
    counter++;
    stack.push(v);
    onStack[v] = 1;
    callNode.push(v);
    callEdge.push(0);
  };
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    enter(root);
    while (callNode.length > 0) {
      const top = callNode.length - 1;
      const v = callNode[top] as number;
      const edges = adjacency[v] as readonly number[];
      const e = callEdge[top] as number;
      if (e < edges.length) {
        callEdge[top] = e + 1;
        const w = edges[e] as number;
        if (order[w] === -1) enter(w);
        else if (onStack[w] === 1) low[v] = Math.min(low[v] as number, order[w] as number);
        continue;
      }
      callNode.pop();
      callEdge.pop();
      const parent = callNode[callNode.length - 1];
      if (parent !== undefined) low[parent] = Math.min(low[parent] as number, low[v] as number);
      if (low[v] !== order[v]) continue;
      const id = components++;
      if (stack[stack.length - 1] === v) {
        stack.pop();
        onStack[v] = 0;
        componentOf[v] = id;
        continue;
      }
      const members: number[] = [];
      for (;;) {
        const w = stack.pop() as number;
        onStack[w] = 0;
        componentOf[w] = id;
        members.push(w);
        if (w === v) break;
      }
      multi.push(members);
    }
  }
  return { componentOf, multi };
}

/**
 * A cycle through `start` inside its component, following dependency edges.
 * Depth-first from `start`; of the tree paths that end in an edge back to `start`, the longest
 * wins, so a simple ring comes out whole.
 */
function cycleThrough(
  start: number,
  adjacency: readonly (readonly number[])[],
  componentOf: Int32Array,
  members: readonly number[],
): number[] {
  // Only the component's members are touched, so the work is linear in the component.
  const depth = new Map<number, number>([[start, 0]]);
  const parent = new Map<number, number>();
  const callNode: number[] = [start];
  const callEdge: number[] = [0];
  const home = componentOf[start];
  let best = start;
  let bestDepth = -1;
  while (callNode.length > 0) {
    const top = callNode.length - 1;
    const v = callNode[top] as number;
    const edges = adjacency[v] as readonly number[];
    const e = callEdge[top] as number;
    if (e >= edges.length) {
      callNode.pop();
      callEdge.pop();
      continue;
    }
    callEdge[top] = e + 1;
    const w = edges[e] as number;
    const dv = depth.get(v) as number;
    if (w === start) {
      if (dv > bestDepth) {
        best = v;
        bestDepth = dv;
        if (dv === members.length - 1) break; // every member is on the path: cannot do better
      }
    } else if (componentOf[w] === home && !depth.has(w)) {
      depth.set(w, dv + 1);
      parent.set(w, v);
      callNode.push(w);
      callEdge.push(0);
    }
  }
  const path: number[] = [];
  for (let v: number | undefined = best; v !== undefined; v = parent.get(v)) path.push(v);
  return path.reverse();
}

function cyclesOf(nodes: readonly GraphNode[], { adjacency, selfLoop }: Indexed): string[][] {
  const { componentOf, multi } = stronglyConnected(adjacency);
  const found: { first: number; self: boolean; members: number[] }[] = [];
  for (const members of multi) {
    const first = minOf(members);
    found.push({ first, self: false, members: cycleThrough(first, adjacency, componentOf, members) });
  }
  selfLoop.forEach((self, v) => {
    if (self === 1) found.push({ first: v, self: true, members: [v] });
  });
  found.sort((a, b) => a.first - b.first || Number(a.self) - Number(b.self));
  return found.map((cycle) => cycle.members.map((v) => (nodes[v] as GraphNode).name));
}

/**
 * Every cycle of the graph, each as its members in path order from the member earliest in the document.
 * One entry per strongly connected component of more than one node (a real cycle through its
 * earliest member; a simple ring is listed whole), plus one `[name]` entry per self-loop.
 * Entries are ordered by their first member's position. Dependencies on unknown names are ignored.
 */
export function findCycles(nodes: readonly GraphNode[]): string[][] {
  return cyclesOf(nodes, indexGraph(nodes));
}

function minOf(values: readonly number[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const v of values) if (v < min) min = v;
  return min;
}

/** The order in which to create the nodes of a graph, and how they depend on each other. */
export interface Plan {
  /** A topological order: `levels` flattened. */
  readonly order: string[];
  /** `levels[k]`: the nodes at level k, in document order. A node's level is 0 without dependencies, else 1 + the highest level among them. */
  readonly levels: string[][];
  /** The chain with the largest total weight, from its root to its end. */
  readonly criticalPath: string[];
  /** Each node's dependencies, de-duplicated, in document order. */
  readonly dependsOn: ReadonlyMap<string, readonly string[]>;
}

/** A graph's problems, and its plan when it has none: what validation and planning both need, computed once. */
export interface GraphAnalysis extends GraphProblems {
  /** Undefined when the graph has a cycle, a dependency on no node, or a name used twice. */
  readonly plan: Plan | undefined;
}

/**
 * Finds every problem of a graph (cycles, dependencies on no node, names used twice) and, when
 * there is none, plans it: one indexing and one cycle search serve both.
 * @throws RangeError if `weight` returns a number that is not finite.
 */
export function analyzeGraph(
  nodes: readonly GraphNode[],
  weight: (name: string) => number = () => 1,
): GraphAnalysis {
  const indexed = indexGraph(nodes);
  const cycles = cyclesOf(nodes, indexed);
  const { missing, duplicates } = indexed;
  const ok = duplicates.length === 0 && missing.length === 0 && cycles.length === 0;
  return { cycles, missing, duplicates, plan: ok ? planIndexed(nodes, indexed, weight) : undefined };
}

/**
 * Plans a graph: levels, a topological order and the critical path.
 * `weight` gives each node's cost on the critical path (1 by default); ties go to the node
 * earliest in the document.
 * @throws GraphError if there is a cycle, a dependency names no node, or two nodes share a name;
 * every such problem is listed.
 * @throws RangeError if `weight` returns a number that is not finite.
 */
export function plan(nodes: readonly GraphNode[], weight: (name: string) => number = () => 1): Plan {
  const { plan: planned, cycles, missing, duplicates } = analyzeGraph(nodes, weight);
  if (!planned) throw new GraphError({ cycles, missing, duplicates });
  return planned;
}

function planIndexed(nodes: readonly GraphNode[], indexed: Indexed, weight: (name: string) => number): Plan {
  const n = nodes.length;
  const { adjacency, names } = indexed;
  const dependsOn = new Map<string, readonly string[]>();
  nodes.forEach((node, v) => {
    dependsOn.set(node.name, names[v] as string[]);
  });

  // Kahn's algorithm: with no cycle every node is reached, its dependencies before it.
  const pending = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  adjacency.forEach((deps, v) => {
    pending[v] = deps.length;
    for (const d of deps) (dependents[d] as number[]).push(v);
  });
  const queue: number[] = [];
  for (let v = 0; v < n; v++) if (pending[v] === 0) queue.push(v);
  const level = new Int32Array(n);
  const distance = new Float64Array(n);
  const previous = new Int32Array(n).fill(-1);
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head] as number;
    const name = (nodes[v] as GraphNode).name;
    const w = weight(name);
    if (!Number.isFinite(w)) throw new RangeError(`weight of \`${name}\` is ${w}; expected a finite number`);
    let lv = 0;
    let best = -1;
    let bestDistance = 0;
    for (const d of adjacency[v] as number[]) {
      lv = Math.max(lv, (level[d] as number) + 1);
      const dd = distance[d] as number;
      if (best === -1 || dd > bestDistance || (dd === bestDistance && d < best)) {
        best = d;
        bestDistance = dd;
      }
    }
    level[v] = lv;
    distance[v] = w + bestDistance;
    previous[v] = best;
    for (const k of dependents[v] as number[]) {
      pending[k] = (pending[k] as number) - 1;
      if (pending[k] === 0) queue.push(k);
    }
  }

  const levels: string[][] = [];
  nodes.forEach((node, v) => {
    const lv = level[v] as number;
    while (levels.length <= lv) levels.push([]);
    (levels[lv] as string[]).push(node.name);
  });

  const criticalPath: string[] = [];
  let end = -1;
  for (let v = 0; v < n; v++) if (end === -1 || (distance[v] as number) > (distance[end] as number)) end = v;
  for (let v = end; v !== -1; v = previous[v] as number) criticalPath.push((nodes[v] as GraphNode).name);
  criticalPath.reverse();

  return { order: levels.flat(), levels, criticalPath, dependsOn };
}
