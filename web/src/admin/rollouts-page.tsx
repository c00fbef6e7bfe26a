import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner, StatusBadge } from "../app/ui.tsx";
import { paths } from "./api.ts";
import { formatTime } from "./format.ts";
import type { RolloutSummary } from "./types.ts";

/** The team's rollouts, newest first. A rollout is started from its template's page. */
export default function RolloutsPage(_props: PageProps) {
  const { session } = useConsole();
  const list = useResource<RolloutSummary[]>(paths.rollouts(session.team), (m) => m.kind === "rollout");
  return (
    <>
      <h1>Rollouts</h1>
      {list.error && <ErrorBanner error={list.error} />}
      {list.loading && <p aria-busy="true">Loading…</p>}
      {list.data && list.data.length === 0 && (
        <p class="hint">No rollouts yet: start one from a template's page.</p>
      )}
      {list.data && list.data.length > 0 && (
        <table aria-label="Rollouts">
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">Template</th>
              <th scope="col">Version</th>
              <th scope="col">Stacks</th>
              <th scope="col">State</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((r) => (
              <tr key={r.rolloutId}>
                <td>
                  <a href={href(`/rollouts/${encodeURIComponent(r.rolloutId)}`)}>{r.rolloutId}</a>
                </td>
                <td>{r.template}</td>
                <td>v{r.version}</td>
                <td>{r.total}</td>
                <td>
                  <StatusBadge status={r.state} />
                </td>
                <td>{formatTime(r.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
