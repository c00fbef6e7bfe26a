import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_SIZE, depths, layoutGraph } from "../../../web/src/graph/layout.ts";

describe("the console's graph layout", () => {
  it("puts mysql in the first column and the servers that reference it in the next", () => {
    const layout = layoutGraph([
      { name: "mysql", dependsOn: [] },
      { name: "php", dependsOn: ["mysql"] },
      { name: "devrim", dependsOn: ["mysql"] },
    ]);
    const at = new Map(layout.nodes.map((n) => [n.name, n]));
    expect(at.get("mysql")?.depth).toBe(0);
    expect(at.get("php")?.depth).toBe(1);
    expect(at.get("devrim")?.depth).toBe(1);
    expect(at.get("php")?.x).toBeGreaterThan((at.get("mysql")?.x ?? 0) + DEFAULT_SIZE.nodeWidth);
    expect(layout.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual(["devrim->mysql", "php->mysql"]);
  });

  it("gives a chain of 5,000 servers its depths without overflowing the stack", () => {
    const servers = Array.from({ length: 5000 }, (_, i) => ({
      name: `s${i}`,
      dependsOn: i === 0 ? [] : [`s${i - 1}`],
    }));
    expect(depths(servers).get("s4999")).toBe(4999);
  });

  it("places every server of a random DAG right of all its dependencies, with no two boxes overlapping", () => {
    const dag = fc
      .integer({ min: 1, max: 40 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: n, maxLength: n }),
        ),
      )
      .map(([n, picks]) =>
        Array.from({ length: n }, (_, i) => ({
          name: `s${i}`,
          // Only earlier servers: a DAG.
          dependsOn: i === 0 ? [] : [...new Set((picks[i] ?? []).map((p) => `s${p % i}`))],
        })),
      );
    fc.assert(
      fc.property(dag, (servers) => {
        const layout = layoutGraph(servers);
        const at = new Map(layout.nodes.map((n) => [n.name, n]));
        expect(layout.nodes).toHaveLength(servers.length);
        for (const s of servers)
          for (const d of s.dependsOn) expect(at.get(s.name)?.x).toBeGreaterThan(at.get(d)?.x ?? Infinity);
        const key = (n: { x: number; y: number }) => `${n.x},${n.y}`;
        expect(new Set(layout.nodes.map(key)).size).toBe(layout.nodes.length);
        for (const n of layout.nodes) {
          expect(n.x + DEFAULT_SIZE.nodeWidth).toBeLessThanOrEqual(layout.width);
          expect(n.y + DEFAULT_SIZE.nodeHeight).toBeLessThanOrEqual(layout.height);
        }
      }),
    );
  });
});
