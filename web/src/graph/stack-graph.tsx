import type { ServerProgress } from "../../../src/core/progress.ts";
import { formatElapsed } from "../app/ui.tsx";
import { DEFAULT_SIZE, layoutGraph } from "./layout.ts";

/** What a node says under its state: how long, and what it waits for or when it should be ready. */
function detail(p: ServerProgress, now: number): string {
  if (p.waitsFor.length > 0) return `waits for ${p.waitsFor.join(", ")}`;
  if (!p.finished && p.expectedReadyAt) {
    const left = Date.parse(p.expectedReadyAt) - now;
    return left > 0 ? `ready in ~${formatElapsed(left)}` : "ready any moment";
  }
  return "";
}

function elapsed(p: ServerProgress): string {
  if (p.elapsedMs === null) return "not started";
  return p.finished ? `took ${formatElapsed(p.elapsedMs)}` : `${formatElapsed(p.elapsedMs)} so far`;
}

/** Cuts a label to what fits in a node. */
const clip = (text: string, chars: number) => (text.length > chars ? `${text.slice(0, chars - 1)}…` : text);

/**
 * A stack's servers as a live dependency graph: a node per server (its state, elapsed time, what
 * it waits for), an arrow from each server to the servers it references. A node is a button that
 * selects the server (its logs).
 */
export function StackGraph(props: {
  readonly servers: readonly ServerProgress[];
  readonly dependsOn: ReadonlyMap<string, readonly string[]>;
  readonly now: number;
  readonly selected?: string | undefined;
  readonly onSelect: (server: string) => void;
}) {
  const size = DEFAULT_SIZE;
  const layout = layoutGraph(
    props.servers.map((s) => ({ name: s.name, dependsOn: props.dependsOn.get(s.name) ?? [] })),
  );
  const byName = new Map(props.servers.map((s) => [s.name, s]));
  const chars = Math.floor(size.nodeWidth / 6.6);
  return (
    // biome-ignore lint/a11y/useSemanticElements: an SVG cannot be a <fieldset>; it groups the server buttons.
    <svg
      class="graph"
      role="group"
      aria-label="Servers and their dependencies"
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      width={layout.width}
      height={layout.height}
      style={{ maxWidth: `${layout.width}px` }}
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path class="arrow" d="M0 0 L10 5 L0 10 z" />
        </marker>
      </defs>
      {layout.edges.map((e) => (
        <path key={`${e.from}->${e.to}`} class="edge" d={e.path} marker-end="url(#arrow)">
          <title>{`${e.from} references ${e.to}`}</title>
        </path>
      ))}
      {layout.nodes.map((n) => {
        const p = byName.get(n.name) as ServerProgress;
        const state = p.state.toLowerCase();
        const more = detail(p, props.now);
        const label = `${n.name}: ${p.state}, ${elapsed(p)}${more ? `, ${more}` : ""}`;
        return (
          // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>; it acts as one.
          <g
            key={n.name}
            class={`node r-${state}${props.selected === n.name ? " selected" : ""}`}
            role="button"
            tabIndex={0}
            aria-label={label}
            aria-pressed={props.selected === n.name}
            data-server={n.name}
            data-depth={n.depth}
            data-state={p.state}
            transform={`translate(${n.x} ${n.y})`}
            onClick={() => props.onSelect(n.name)}
            onKeyDown={(e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                props.onSelect(n.name);
              }
            }}
          >
            <title>{label}</title>
            <rect width={size.nodeWidth} height={size.nodeHeight} rx="8" />
            <text class="name" x="12" y="21">
              {clip(n.name, chars - 2)}
            </text>
            <text class={`state t-${state}`} x="12" y="38">
              {p.state}
              {p.provider ? <tspan class="sub"> · {p.provider}</tspan> : null}
            </text>
            <text class="sub" x="12" y="54">
              {elapsed(p)}
            </text>
            <text class="sub" x="12" y="69">
              {clip(more, chars)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
