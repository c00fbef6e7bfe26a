import { describe, expect, it } from "vitest";
import { TeamstackError } from "../../../src/core/errors.ts";
import {
  describeCycle,
  findCycles,
  GraphError,
  type GraphNode,
  plan,
  serverDependencies,
} from "../../../src/core/graph.ts";
import type { ServerSpec } from "../../../src/core/template.ts";

const server = (name: string, userData: string, dependsOn: string[] = []): ServerSpec => ({
  name,
  provider: "sim",
  type: "t2.micro",
  userData,
  dependsOn,
  options: {},
});

/** Nodes from a compact spec: "a: b c" means a depends on b and c. */
const graph = (...lines: string[]): GraphNode[] =>
  lines.map((line) => {
    const [name = "", deps = ""] = line.split(":");
    return { name: name.trim(), dependsOn: deps.split(" ").filter(Boolean) };
  });

const planError = (nodes: readonly GraphNode[]): GraphError => {
  try {
    plan(nodes);
  } catch (error) {
    expect(error).toBeInstanceOf(GraphError);
    return error as GraphError;
  }
  throw new Error("expected plan to throw");
};

describe("serverDependencies", () => {
  it("lists referenced servers by first appearance, then depends_on, without duplicates", () => {
    const spec = server(
      "web",
      `mysql -h $servers.db.IP -P 3306\ncurl \${servers.cache.PrivateIP}\necho $servers.db.Hostname $koding.artifact.queue.IP`,
      ["cache", "bastion", "db"],
    );
    expect(serverDependencies(spec)).toEqual(["db", "cache", "queue", "bastion"]);
  });

  it("ignores vars, stack artifacts, user data, invalid and escaped references", () => {
    const spec = server(
      "web",
      `$vars.db $koding.artifact.stackId $koding.userdata.db $servers.db.ip $servers.db $$servers.x.IP \${HOME}`,
    );
    expect(serverDependencies(spec)).toEqual([]);
  });

  it("keeps a self-reference so validation can report it", () => {
    expect(serverDependencies(server("web", "echo $servers.web.IP"))).toEqual(["web"]);
    expect(serverDependencies(server("web", "", ["web"]))).toEqual(["web"]);
  });
});

describe("findCycles", () => {
  it("finds nothing in a DAG", () => {
    expect(findCycles(graph("a:", "b: a", "c: a b", "d: c b"))).toEqual([]);
    expect(findCycles([])).toEqual([]);
  });

  it("names both members of a 2-cycle", () => {
    expect(findCycles(graph("x:", "a: b", "b: a"))).toEqual([["a", "b"]]);
  });

  it("lists a 5-ring whole, in ring order, from the member earliest in the document", () => {
    // ring c → e → a → d → b → c, written in a shuffled order
    expect(findCycles(graph("a: d", "b: c", "c: e", "d: b", "e: a"))).toEqual([["a", "d", "b", "c", "e"]]);
  });

  it("reports self-loops on their own and beside a larger cycle", () => {
    expect(findCycles(graph("a: a"))).toEqual([["a"]]);
    expect(findCycles(graph("a: b", "b: c", "c: a c"))).toEqual([["a", "b", "c"], ["c"]]);
    expect(findCycles(graph("a: a b", "b: a"))).toEqual([["a", "b"], ["a"]]);
  });

  it("reports one cycle per strongly connected component, ordered by first member", () => {
    expect(findCycles(graph("p: q", "a: b", "b: a", "q: p", "z: z"))).toEqual([
      ["p", "q"],
      ["a", "b"],
      ["z"],
    ]);
  });

  it("reports a real cycle through the earliest member of a complex component", () => {
    const nodes = graph("a: b c", "b: c d", "c: a", "d: a b");
    const [cycle, ...rest] = findCycles(nodes);
    expect(rest).toEqual([]);
    expect(cycle?.[0]).toBe("a");
    const deps = new Map(nodes.map((n) => [n.name, n.dependsOn]));
    const ring = cycle ?? [];
    ring.forEach((name, i) => {
      expect(deps.get(name)).toContain(ring[(i + 1) % ring.length]);
    });
    expect(new Set(ring).size).toBe(ring.length);
    expect(ring.length).toBeGreaterThanOrEqual(2);
  });

  it("ignores dependencies on unknown names", () => {
    expect(findCycles(graph("a: ghost", "b: a"))).toEqual([]);
  });

  it("handles a chain of 100,000 without overflowing the stack", () => {
    const n = 100_000;
    const chain = Array.from({ length: n }, (_, i) => ({
      name: `n${i}`,
      dependsOn: i + 1 < n ? [`n${i + 1}`] : [],
    }));
    expect(findCycles(chain)).toEqual([]);
    const ring = chain.map((node, i) => (i === n - 1 ? { name: node.name, dependsOn: ["n0"] } : node));
    const cycles = findCycles(ring);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(n);
    expect(cycles[0]?.[0]).toBe("n0");
    expect(cycles[0]?.[n - 1]).toBe(`n${n - 1}`);
  });
});

describe("describeCycle", () => {
  it("names every member and closes the loop", () => {
    expect(describeCycle(["a", "b", "c"])).toBe("dependency cycle: `a` → `b` → `c` → `a`");
    expect(describeCycle(["a"])).toBe("`a` depends on itself");
  });
});

describe("plan", () => {
  it("groups nodes into levels in document order and flattens them into the order", () => {
    const result = plan(graph("web: db cache", "db:", "cache:", "worker: db", "lb: web"));
    expect(result.levels).toEqual([["db", "cache"], ["web", "worker"], ["lb"]]);
    expect(result.order).toEqual(["db", "cache", "web", "worker", "lb"]);
    expect(result.criticalPath).toEqual(["db", "web", "lb"]);
    expect(result.dependsOn.get("web")).toEqual(["db", "cache"]);
    expect(result.dependsOn.get("db")).toEqual([]);
  });

  it("computes a node's level from its highest dependency, not its first", () => {
    const result = plan(graph("a:", "b: a", "c: b", "d: a c"));
    expect(result.levels).toEqual([["a"], ["b"], ["c"], ["d"]]);
  });

  it("returns an empty plan for no nodes", () => {
    expect(plan([])).toEqual({ order: [], levels: [], criticalPath: [], dependsOn: new Map() });
  });

  it("de-duplicates dependencies", () => {
    const result = plan(graph("a:", "b: a a"));
    expect(result.dependsOn.get("b")).toEqual(["a"]);
    expect(result.levels).toEqual([["a"], ["b"]]);
  });

  it("breaks critical path ties toward the earliest node in the document", () => {
    expect(plan(graph("a:", "b:", "c: a b", "d: b a")).criticalPath).toEqual(["a", "c"]);
    expect(plan(graph("x:", "y:")).criticalPath).toEqual(["x"]);
  });

  it("follows weights on the critical path", () => {
    const nodes = graph("fast:", "slow:", "app: fast slow", "other:");
    const weights: Record<string, number> = { fast: 1, slow: 30, app: 5, other: 20 };
    expect(plan(nodes, (name) => weights[name] ?? 0).criticalPath).toEqual(["slow", "app"]);
    expect(plan(nodes, (name) => (name === "other" ? 100 : 1)).criticalPath).toEqual(["other"]);
  });

  it("rejects a weight that is not a finite number", () => {
    expect(() => plan(graph("a:"), () => Number.NaN)).toThrow(RangeError);
  });

  it("rejects a cycle and names every server in it", () => {
    const error = planError(graph("a: c", "b: a", "c: b", "d:"));
    expect(error.name).toBe("GraphError");
    expect(error).toBeInstanceOf(TeamstackError);
    expect(error.problems.cycles).toEqual([["a", "c", "b"]]);
    expect(error.message).toBe("dependency cycle: `a` → `c` → `b` → `a`");
  });

  it("rejects a self-dependency", () => {
    expect(planError(graph("a: a")).message).toBe("`a` depends on itself");
  });

  it("rejects a dependency that names no node, and reports every problem at once", () => {
    const error = planError(graph("a: ghost", "b: c", "c: b", "a: b"));
    expect(error.problems).toEqual({
      duplicates: ["a"],
      missing: [{ node: "a", dependency: "ghost" }],
      cycles: [["b", "c"]],
    });
    expect(error.message.split("\n")).toEqual([
      "`a` is defined more than once; expected unique names",
      "`a` depends on `ghost`, but nothing is named `ghost`",
      "dependency cycle: `b` → `c` → `b`",
    ]);
  });

  it("plans a chain of 100,000 without overflowing the stack", () => {
    const n = 100_000;
    const chain = Array.from({ length: n }, (_, i) => ({
      name: `n${i}`,
      dependsOn: i > 0 ? [`n${i - 1}`] : [],
    }));
    const result = plan(chain);
    expect(result.levels).toHaveLength(n);
    expect(result.criticalPath).toHaveLength(n);
    expect(result.criticalPath[n - 1]).toBe(`n${n - 1}`);
  });

  it("plans 3,000 nodes with a few dependencies each in a valid order", () => {
    const n = 3000;
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const nodes = Array.from({ length: n }, (_, i) => ({
      name: `server-${i}`,
      dependsOn: i === 0 ? [] : Array.from({ length: 4 }, () => `server-${Math.floor(random() * i)}`),
    }));
    const p = plan(nodes);
    expect(p.order).toHaveLength(n);
    const at = new Map(p.order.map((name, i) => [name, i]));
    for (const node of nodes)
      for (const d of node.dependsOn) expect(at.get(d) as number).toBeLessThan(at.get(node.name) as number);
  });
});
