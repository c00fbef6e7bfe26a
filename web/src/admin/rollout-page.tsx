import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner, StatusBadge } from "../app/ui.tsx";
import { paths } from "./api.ts";
import { formatTime, plural } from "./format.ts";
import { ROLLOUT_STACK_STATES, type RolloutView } from "./types.ts";

/**
 * A rollout, watched to its end: its state, the stacks per state, and each stack's wave and state.
 * It refreshes on the stream's rollout messages and on the stack events of its stacks (or on each
 * polling tick where there is no stream).
 */
export default function RolloutPage(props: PageProps) {
  const id = props.params.id as string;
  const { session } = useConsole();
  const rollout = useResource<RolloutView>(paths.rollout(session.team, id), (m) =>
    m.kind === "rollout" ? m.rolloutId === id : m.kind === "stack",
  );
  const r = rollout.data;
  const done = r !== undefined && r.state !== "RUNNING";
  const finished = r ? r.total - (r.counts.PENDING ?? 0) - (r.counts.UPDATING ?? 0) : 0;
  return (
    <>
      <p class="meta">
        <a href={href("/rollouts")}>Rollouts</a> /
      </p>
      <h1>Rollout {id}</h1>
      {rollout.error && <ErrorBanner error={rollout.error} />}
      {rollout.loading && <p aria-busy="true">Loading…</p>}
      {r && (
        <>
          <p>
            Template{" "}
            <a href={href(`/templates/${encodeURIComponent(r.template)}`)}>
              <strong>{r.template}</strong>
            </a>{" "}
            to v{r.version}: canary {r.canary}, {r.batch} per wave, stops above {r.max_failed_percent}%
            failed.
            {r.createdBy && ` Started by ${r.createdBy} at ${formatTime(r.createdAt)}.`}
          </p>
          <p role="status" class={done ? (r.state === "SUCCEEDED" ? "notice" : "error") : "notice"}>
            {done
              ? `Rollout ${r.state === "SUCCEEDED" ? "finished" : "stopped"}: ${r.state}${r.reason ? ` (${r.reason})` : ""}.`
              : `Rollout running: ${finished} of ${plural(r.total, "stack")} done.`}
          </p>
          <progress max={Math.max(1, r.total)} value={finished} aria-label="Stacks done" />
          <ul class="counts" aria-label="Stacks per state">
            {ROLLOUT_STACK_STATES.map((s) => (
              <li key={s}>
                <StatusBadge status={s} /> {r.counts[s] ?? 0}
              </li>
            ))}
          </ul>
          {r.stacks.length === 0 ? (
            <p class="hint">No stack was on an older version: nothing to update.</p>
          ) : (
            <table aria-label="Stacks in the rollout">
              <thead>
                <tr>
                  <th scope="col">Stack</th>
                  <th scope="col">Member</th>
                  <th scope="col">Wave</th>
                  <th scope="col">From</th>
                  <th scope="col">State</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {r.stacks.map((s) => (
                  <tr key={s.stackId}>
                    <td>
                      <a href={href(`/stacks/${encodeURIComponent(s.stackId)}`)}>{s.stackId}</a>
                    </td>
                    <td>{s.member}</td>
                    <td>{s.canary ? `${s.wave} (canary)` : s.wave}</td>
                    <td>v{s.fromVersion}</td>
                    <td>
                      <StatusBadge status={s.state} />
                    </td>
                    <td>{s.error ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </>
  );
}
