/**
 * A small layered layout for a stack's dependency graph, of our own (no graph library): each server
 * in the column of its depth (0: depends on nothing), ordered within the column by where its
 * dependencies sit (to keep edges short and uncrossed), and an edge from each server to every
 * server it references.
 */

export interface LayoutInput {
  readonly name: string;
  /** The servers it depends on (names not in the graph are left out). */
  readonly dependsOn: readonly string[];
}

export interface NodeBox {
  readonly name: string;
  readonly depth: number;
  readonly x: number;
  readonly y: number;
}

export interface Edge {
  /** The server that references... */
  readonly from: string;
  /** ...this one (drawn pointing at it). */
  readonly to: string;
  /** An SVG path from the left side of `from` to the right side of `to`. */
  readonly path: string;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly NodeBox[];
  readonly edges: readonly Edge[];
}

export interface LayoutSize {
  readonly nodeWidth: number;
  readonly nodeHeight: number;
  readonly gapX: number;
  readonly gapY: number;
  readonly pad: number;
}

export const DEFAULT_SIZE: LayoutSize = { nodeWidth: 190, nodeHeight: 76, gapX: 70, gapY: 18, pad: 16 };

/** Depth of every server: 0 with no dependencies, else one more than its deepest dependency. */
export function depths(servers: readonly LayoutInput[]): Map<string, number> {
  const byName = new Map(servers.map((s) => [s.name, s]));
  const out = new Map<string, number>();
  // Iterative, so a long chain cannot overflow the stack; a cycle (never compiled) stays finite.
  for (const start of servers) {
    const stack: Array<{ name: string; next: number }> = [{ name: start.name, next: 0 }];
    const onPath = new Set([start.name]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { name: string; next: number };
      if (out.has(top.name)) {
        stack.pop();
        onPath.delete(top.name);
        continue;
      }
      const deps = (byName.get(top.name)?.dependsOn ?? []).filter((d) => byName.has(d));
      const pending = deps.slice(top.next).find((d) => !out.has(d) && !onPath.has(d));
      if (pending !== undefined) {
        top.next = deps.indexOf(pending) + 1;
        stack.push({ name: pending, next: 0 });
        onPath.add(pending);
        continue;
      }
      out.set(top.name, deps.length === 0 ? 0 : 1 + Math.max(...deps.map((d) => out.get(d) ?? 0)));
      stack.pop();
      onPath.delete(top.name);
    }
  }
  return out;
}

export function layoutGraph(servers: readonly LayoutInput[], size: LayoutSize = DEFAULT_SIZE): Layout {
  const known = new Set(servers.map((s) => s.name));
  const depthOf = depths(servers);
  const columns: LayoutInput[][] = [];
  for (const s of servers) {
    const d = depthOf.get(s.name) ?? 0;
    const column = columns[d] ?? [];
    columns[d] = column;
    column.push(s);
  }
  // Within a column, by the mean row of the dependencies (template order breaks ties).
  const row = new Map<string, number>();
  for (const column of columns) {
    if (!column) continue;
    const keyed = column.map((s, i) => {
      const rows = s.dependsOn.map((d) => row.get(d)).filter((r): r is number => r !== undefined);
      return { s, key: rows.length > 0 ? rows.reduce((a, b) => a + b, 0) / rows.length : i, i };
    });
    keyed.sort((a, b) => a.key - b.key || a.i - b.i);
    keyed.forEach(({ s }, i) => {
      row.set(s.name, i);
    });
    column.splice(0, column.length, ...keyed.map((k) => k.s));
  }
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const height = size.pad * 2 + tallest * size.nodeHeight + (tallest - 1) * size.gapY;
  const width = size.pad * 2 + columns.length * size.nodeWidth + Math.max(0, columns.length - 1) * size.gapX;
  const nodes: NodeBox[] = [];
  const at = new Map<string, NodeBox>();
  columns.forEach((column, depth) => {
    if (!column) return;
    const columnHeight = column.length * size.nodeHeight + (column.length - 1) * size.gapY;
    const top = (height - columnHeight) / 2;
    column.forEach((s, i) => {
      const box = {
        name: s.name,
        depth,
        x: size.pad + depth * (size.nodeWidth + size.gapX),
        y: top + i * (size.nodeHeight + size.gapY),
      };
      nodes.push(box);
      at.set(s.name, box);
    });
  });
  const edges: Edge[] = [];
  for (const s of servers) {
    const from = at.get(s.name) as NodeBox;
    for (const dep of new Set(s.dependsOn)) {
      if (!known.has(dep)) continue;
      const to = at.get(dep) as NodeBox;
      const x1 = from.x;
      const y1 = from.y + size.nodeHeight / 2;
      const x2 = to.x + size.nodeWidth + 6;
      const y2 = to.y + size.nodeHeight / 2;
      const mid = (x1 + x2) / 2;
      edges.push({ from: s.name, to: dep, path: `M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}` });
    }
  }
  return { width, height, nodes, edges };
}
