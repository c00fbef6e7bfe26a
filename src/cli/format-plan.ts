import type { TemplatePlan } from "../core/plan.ts";

export const PLAN_FORMATS = ["text", "json", "mermaid", "dot"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** Prints a plan for people (text), machines (json) or diagrams (mermaid, dot). */
export function formatPlan(plan: TemplatePlan, format: PlanFormat): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(plan, null, 2)}\n`;
    case "text":
      return text(plan);
    case "mermaid":
      return mermaid(plan);
    case "dot":
      return dot(plan);
  }
}

function hookLine(phase: "pre" | "post" | "destroy", hook: Record<string, unknown>, i: number): string {
  const target = typeof hook.target_server === "string" ? ` on ${hook.target_server}` : "";
  return `  ${phase}:${i}  ${String(hook.type)}${target}`;
}

function text(plan: TemplatePlan): string {
  const byName = new Map(plan.servers.map((s) => [s.name, s]));
  const lines: string[] = [];
  const n = plan.servers.length;
  lines.push(
    `${n} server${n === 1 ? "" : "s"} in ${plan.levels.length} level${plan.levels.length === 1 ? "" : "s"}; critical path: ${plan.criticalPath.join(" → ")}`,
  );
  if (plan.preHooks.length > 0) {
    lines.push("", "pre_hooks, in order, before any server:");
    plan.preHooks.forEach((h, i) => {
      lines.push(hookLine("pre", h, i));
    });
  }
  const width = Math.max(...plan.servers.map((s) => s.name.length));
  plan.levels.forEach((level, i) => {
    lines.push(
      "",
      i === 0 ? "level 0, starts at once:" : `level ${i}, each starts when what it waits for is ready:`,
    );
    level.forEach((name, j) => {
      const s = byName.get(name);
      if (!s) return;
      const branch = j === level.length - 1 ? "└─" : "├─";
      const waits = s.dependsOn.length > 0 ? `  waits for ${s.dependsOn.join(", ")}` : "";
      lines.push(`  ${branch} ${name.padEnd(width)}  ${s.provider} ${s.type}${waits}`);
    });
  });
  if (plan.postHooks.length > 0) {
    lines.push("", "post_hooks, in order, after every server is ready:");
    plan.postHooks.forEach((h, i) => {
      lines.push(hookLine("post", h, i));
    });
  }
  if (plan.destroyHooks?.length) {
    lines.push("", "destroy_hooks, in order, when the stack is destroyed, before its servers:");
    plan.destroyHooks.forEach((h, i) => {
      lines.push(hookLine("destroy", h, i));
    });
  }
  return `${lines.join("\n")}\n`;
}

/** Mermaid ids must be plain; names may hold `-`, which Mermaid reads as an edge. */
function mermaidId(name: string): string {
  return `s_${name.replace(/[^A-Za-z0-9_]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`)}`;
}

function mermaid(plan: TemplatePlan): string {
  const critical = new Set(edgesOf(plan.criticalPath));
  const lines = ["flowchart LR"];
  for (const s of plan.servers) lines.push(`  ${mermaidId(s.name)}["${s.name}<br/>${s.provider} ${s.type}"]`);
  let index = 0;
  const highlighted: number[] = [];
  for (const s of plan.servers) {
    for (const d of s.dependsOn) {
      lines.push(`  ${mermaidId(d)} --> ${mermaidId(s.name)}`);
      if (critical.has(`${d}\u0000${s.name}`)) highlighted.push(index);
      index++;
    }
  }
  if (highlighted.length > 0) lines.push(`  linkStyle ${highlighted.join(",")} stroke-width:3px`);
  return `${lines.join("\n")}\n`;
}

/** A DOT string: quotes and backslashes escaped, line breaks as DOT's own `\n`. */
function dotString(s: string): string {
  return `"${s.replace(/["\\]/g, "\\$&").replace(/\n/g, "\\n")}"`;
}

function dot(plan: TemplatePlan): string {
  const critical = new Set(edgesOf(plan.criticalPath));
  const lines = ["digraph stack {", "  rankdir=LR;", "  node [shape=box];"];
  for (const s of plan.servers)
    lines.push(`  ${dotString(s.name)} [label=${dotString(`${s.name}\n${s.provider} ${s.type}`)}];`);
  for (const s of plan.servers) {
    for (const d of s.dependsOn) {
      const style = critical.has(`${d}\u0000${s.name}`) ? " [penwidth=3]" : "";
      lines.push(`  ${dotString(d)} -> ${dotString(s.name)}${style};`);
    }
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

function edgesOf(path: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < path.length; i++) out.push(`${path[i - 1]}\u0000${path[i]}`);
  return out;
}
