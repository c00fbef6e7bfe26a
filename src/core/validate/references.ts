import { analyzeGraph, type GraphNode, type Plan } from "../graph.ts";
import { classify, type Reference, scan } from "../interpolate.ts";
import type { ServerSpec } from "../template.ts";
import type { YScalar } from "../yaml-tree.ts";
import type { Scope, ValidationContext } from "./context.ts";

/**
 * References and the dependency graph: every queued string's references resolved against the
 * names the template defines and allowed where they stand, then the servers' graph checked for
 * cycles and planned, once, for validation and planning alike.
 */

/** Resolves every queued reference: known, allowed where it stands, not the server itself. */
export function checkReferences(ctx: ValidationContext): void {
  for (const { node, value, scope, owner, where } of ctx.pending) {
    const locate = locator(ctx, node);
    for (const token of scan(value)) {
      if (token.kind === "text") continue;
      if (token.kind === "escape") {
        locate(`$${token.literal}`);
        continue;
      }
      if (token.kind === "malformed") {
        ctx.at(locate(token.raw), `${where}: ${token.message}`);
        continue;
      }
      const ref = token.ref;
      const offset = locate(ref.raw);
      const message = checkReference(ctx, ref, scope, owner, offset);
      if (message) ctx.at(offset, `${where}: ${message}`);
    }
  }
}

function checkReference(
  ctx: ValidationContext,
  ref: Reference,
  scope: Scope,
  owner: string | undefined,
  offset: number,
): string | undefined {
  const meaning = classify(ref);
  const raw = `\`${ref.raw}\``;
  switch (meaning.kind) {
    case "invalid":
      return meaning.message;
    case "var":
      if (ctx.vars.has(meaning.name)) return undefined;
      return `${raw} names unknown var \`${meaning.name}\`; ${
        ctx.vars.size > 0
          ? `defined vars: ${ctx.hints.someNames(meaning.name, ctx.vars)}`
          : "the template defines no vars"
      }`;
    case "userdata":
      return undefined;
    case "stack":
      if (scope === "post") return undefined;
      return `${raw} is not known until every server is ready; stack artifacts can be used in post_hooks`;
    case "server": {
      if (scope === "pre")
        return `${raw} cannot be used in pre_hooks: they run before any server exists; pre_hooks may use $vars and $koding.userdata`;
      if (!ctx.serverNames.has(meaning.server))
        return `${raw} names unknown server \`${meaning.server}\`${ctx.serverChoices(meaning.server)}`;
      if (scope === "server" && owner !== undefined) {
        if (meaning.server === owner)
          return `${raw}: server \`${owner}\` references itself; a server cannot use its own artifacts (use $TEAMSTACK_IP, $TEAMSTACK_SERVER)`;
        const referenced = ctx.referenced.get(owner);
        if (referenced && !referenced.includes(meaning.server)) referenced.push(meaning.server);
        ctx.edge(owner, meaning.server, offset);
      }
      return undefined;
    }
  }
}

/**
 * Where each successive reference, escape or malformed reference of a scalar's value stands in
 * the source. They keep their text and their order whatever the scalar's style (plain, quoted,
 * block), so each is searched for after the previous one: linear in the scalar's length.
 */
function locator(ctx: ValidationContext, node: YScalar): (raw: string) => number {
  // A block scalar's header line (`|`, `>-`, a comment) holds no content.
  const block = node.style === "literal" || node.style === "folded";
  const from = block ? ctx.text.indexOf("\n", node.start) + 1 || node.end : node.start;
  const src = ctx.text.slice(from, node.end);
  let cursor = 0;
  let lost = false;
  return (raw) => {
    const at = lost ? -1 : src.indexOf(raw, cursor);
    // Only an escape sequence (`"\x24vars.x"`) hides a reference's text; then the scalar will do.
    if (at === -1) {
      lost = true;
      return node.start;
    }
    cursor = at + raw.length;
    return from + at;
  };
}

/**
 * The servers' dependency graph, as `serverDependencies` (src/core/graph.ts) gives it: referenced
 * servers by first appearance, then depends_on. Reports each cycle at its first edge and answers
 * the plan when the graph has none.
 */
export function checkGraph(ctx: ValidationContext, servers: readonly ServerSpec[]): Plan | undefined {
  const nodes: GraphNode[] = servers.map((s) => {
    const deps = [...(ctx.referenced.get(s.name) ?? [])];
    for (const d of s.dependsOn) if (!deps.includes(d)) deps.push(d);
    return { name: s.name, dependsOn: deps };
  });
  const analysis = analyzeGraph(nodes);
  for (const cycle of analysis.cycles) {
    if (cycle.length < 2) continue; // self-references are reported where they stand
    const [a, b] = cycle as [string, string];
    const offset = ctx.edges.get(`${a}\u0000${b}`) ?? ctx.serverNames.get(a)?.start ?? 0;
    ctx.at(
      offset,
      `dependency cycle: ${[...cycle, a].join(" → ")}; servers in a cycle would wait for each other forever`,
    );
  }
  return analysis.plan;
}
