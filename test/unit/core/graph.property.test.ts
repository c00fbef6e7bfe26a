import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findCycles, GraphError, type GraphNode, plan, serverDependencies } from "../../../src/core/graph.ts";
import type { ServerSpec } from "../../../src/core/template.ts";

const SERVERS: readonly string[] = ["db", "web", "cache", "my-queue", "x_1"];
const serverName = fc.constantFrom(...SERVERS);

/** A piece of user_data, and the server it makes a dependency on (if any). */
type Piece = { text: string; server?: string };
const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc
    .tuple(serverName, fc.constantFrom("IP", "PrivateIP", "Hostname", "Id"))
    .chain(([s, a]) =>
      fc.constantFrom<Piece>(
        { text: `$servers.${s}.${a}`, server: s },
        { text: `\${servers.${s}.${a}}`, server: s },
        { text: `$koding.artifact.${s}.${a}`, server: s },
        { text: `$servers.${s}.${a}:3306`, server: s },
        { text: `$$servers.${s}.${a}` },
        { text: `$servers.${s}.ip` },
        { text: `$servers.${s}` },
      ),
    ),
  fc.constantFrom<Piece>(
    { text: "$vars.db" },
    { text: "$koding.userdata.web" },
    { text: "$koding.artifact.stackId" },
    { text: `$HOME \${PATH} $$ $1` },
    { text: `\${servers.db.IP:-x}` },
    { text: "echo done\n" },
  ),
);

/** Node names n0..n{count-1} listed in a shuffled document order. */
function shuffledNames(count: number): fc.Arbitrary<string[]> {
  const names = Array.from({ length: count }, (_, i) => `n${i}`);
  return fc.shuffledSubarray(names, { minLength: count, maxLength: count });
}

/** A random DAG: node i depends only on nodes with a smaller index; nodes listed in shuffled order. */
const dag = fc.integer({ min: 1, max: 25 }).chain((count) =>
  fc
    .tuple(
      fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: count, maxLength: count }),
      shuffledNames(count),
    )
    .map(([picks, order]) => {
      const deps = new Map<string, string[]>();
      picks.forEach((pick, i) => {
        deps.set(`n${i}`, i === 0 ? [] : pick.map((p) => `n${p % i}`));
      });
      return order.map((name): GraphNode => ({ name, dependsOn: deps.get(name) ?? [] }));
    }),
);

/** Checks that `cycle` is a real cycle of `nodes`: distinct members, each depending on the next. */
function expectRealCycle(nodes: readonly GraphNode[], cycle: readonly string[]): void {
  const deps = new Map(nodes.map((n) => [n.name, n.dependsOn]));
  expect(new Set(cycle).size).toBe(cycle.length);
  cycle.forEach((name, i) => {
    expect(deps.get(name)).toContain(cycle[(i + 1) % cycle.length]);
  });
}

/**
 * True when the ring's edges form the graph's only cycle: by brute force, the only nodes on any
 * cycle are the ring's, and the only edges among them are the ring's.
 */
function ringIsOnlyCycle(nodes: readonly GraphNode[], ring: readonly string[]): boolean {
  const names = nodes.map((n) => n.name);
  const reach = new Map(names.map((name) => [name, new Set<string>()]));
  for (const node of nodes) for (const dep of node.dependsOn) reach.get(node.name)?.add(dep);
  for (const k of names) {
    for (const i of names) {
      const fromI = reach.get(i) as Set<string>;
      if (fromI.has(k)) for (const j of reach.get(k) as Set<string>) fromI.add(j);
    }
  }
  const onCycle = names.filter((name) => reach.get(name)?.has(name));
  if (onCycle.length !== ring.length || !onCycle.every((name) => ring.includes(name))) return false;
  return ring.every((name) => {
    const inRing = (nodes.find((n) => n.name === name) as GraphNode).dependsOn.filter((d) =>
      ring.includes(d),
    );
    return new Set(inRing).size === 1;
  });
}

describe("graph properties", () => {
  it("reports exactly the servers user_data references and depends_on names", () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 10 }),
        fc.array(serverName, { maxLength: 4 }),
        (pieces, dependsOn) => {
          const spec: ServerSpec = {
            name: "self",
            provider: "sim",
            type: "small",
            userData: pieces.map((p) => p.text).join(" "),
            dependsOn,
            options: {},
          };
          const referenced = pieces.flatMap((p) => (p.server === undefined ? [] : [p.server]));
          const expected = [...new Set([...referenced, ...dependsOn])];
          const deps = serverDependencies(spec);
          expect(deps).toEqual(expected);
          for (const dep of deps) expect(referenced.includes(dep) || dependsOn.includes(dep)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("plans random DAGs in a valid topological order with consistent levels", () => {
    fc.assert(
      fc.property(dag, (nodes) => {
        expect(findCycles(nodes)).toEqual([]);
        const result = plan(nodes);
        const position = new Map(nodes.map((n, i) => [n.name, i]));
        const orderIndex = new Map(result.order.map((name, i) => [name, i]));
        expect([...result.order].sort()).toEqual(nodes.map((n) => n.name).sort());
        expect(result.order).toEqual(result.levels.flat());

        const level = new Map<string, number>();
        result.levels.forEach((names, k) => {
          expect(names.length).toBeGreaterThan(0);
          for (const name of names) level.set(name, k);
          const positions = names.map((name) => position.get(name) as number);
          expect(positions).toEqual([...positions].sort((a, b) => a - b));
        });
        for (const node of nodes) {
          const own = orderIndex.get(node.name) as number;
          for (const dep of node.dependsOn) expect(orderIndex.get(dep) as number).toBeLessThan(own);
          const depLevels = node.dependsOn.map((dep) => level.get(dep) as number);
          expect(level.get(node.name)).toBe(depLevels.length === 0 ? 0 : 1 + Math.max(...depLevels));
          expect(result.dependsOn.get(node.name)).toEqual([...new Set(node.dependsOn)]);
        }

        // With unit weights the critical path is a longest chain: one node per level.
        const path = result.criticalPath;
        expect(path).toHaveLength(result.levels.length);
        expect(result.dependsOn.get(path[0] as string)).toEqual([]);
        for (let i = 1; i < path.length; i++) {
          expect(result.dependsOn.get(path[i] as string)).toContain(path[i - 1]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("rejects any ring added to a DAG and reports only real cycles", () => {
    const withRing = dag.chain((nodes) =>
      fc
        .shuffledSubarray(
          nodes.map((n) => n.name),
          { minLength: Math.min(2, nodes.length), maxLength: Math.min(6, nodes.length) },
        )
        .map((ring) => ({ nodes, ring })),
    );
    fc.assert(
      fc.property(withRing, ({ nodes, ring }) => {
        fc.pre(ring.length >= 2);
        const next = new Map(ring.map((name, i) => [name, ring[(i + 1) % ring.length] as string]));
        const graph = nodes.map((n) => {
          const extra = next.get(n.name);
          return extra === undefined ? n : { name: n.name, dependsOn: [...n.dependsOn, extra] };
        });
        const cycles = findCycles(graph);
        expect(cycles.length).toBeGreaterThan(0);
        for (const cycle of cycles) expectRealCycle(graph, cycle);
        expect(cycles.some((cycle) => cycle.some((name) => ring.includes(name)))).toBe(true);
        expect(() => plan(graph)).toThrow(GraphError);
        if (ringIsOnlyCycle(graph, ring)) {
          const start = graph.findIndex((n) => ring.includes(n.name));
          const at = ring.indexOf((graph[start] as GraphNode).name);
          expect(cycles).toEqual([[...ring.slice(at), ...ring.slice(0, at)]]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("names every member of a ring, in ring order, when it is the only cycle", () => {
    const arb = fc
      .tuple(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 10 }))
      .chain(([k, extra]) =>
        fc.tuple(
          fc.constant(k),
          fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: extra, maxLength: extra }),
          shuffledNames(k + extra),
        ),
      );
    fc.assert(
      fc.property(arb, ([k, picks, order]) => {
        // n0..n{k-1} form the ring; the others depend only on nodes before them, so add no cycle.
        const deps = new Map<string, string[]>();
        for (let i = 0; i < k; i++) deps.set(`n${i}`, [`n${(i + 1) % k}`]);
        picks.forEach((pick, j) => {
          const i = k + j;
          deps.set(
            `n${i}`,
            pick.map((p) => `n${p % i}`),
          );
        });
        const nodes = order.map((name): GraphNode => ({ name, dependsOn: deps.get(name) ?? [] }));

        const ringInDocument = order.filter((name) => Number(name.slice(1)) < k);
        const first = Number((ringInDocument[0] as string).slice(1));
        const expected = Array.from({ length: k }, (_, i) => `n${(first + i) % k}`);
        expect(findCycles(nodes)).toEqual([expected]);

        let error: unknown;
        try {
          plan(nodes);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(GraphError);
        expect((error as GraphError).problems.cycles).toEqual([expected]);
        for (const name of expected) expect((error as GraphError).message).toContain(`\`${name}\``);
      }),
      { numRuns: 500 },
    );
  });
});
