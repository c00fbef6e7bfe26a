import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { paths, type TeamEvent } from "./api.ts";
import { formatTime } from "./format.ts";

/** The team's outbound events (Stack Provisioned, Stack Failed, ...), newest first, kept up to date. */
export default function EventsPage(_props: PageProps) {
  const { session } = useConsole();
  const list = useResource<{ events: TeamEvent[] }>(paths.events(session.team), (m) => m.kind === "stack");
  return (
    <>
      <h1>Events</h1>
      {list.error && <ErrorBanner error={list.error} />}
      {list.loading && <p aria-busy="true">Loading…</p>}
      {list.data && list.data.events.length === 0 && <p class="hint">No events yet.</p>}
      {list.data && list.data.events.length > 0 && (
        <table aria-label="Events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Type</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {list.data.events.map((e) => (
              <tr key={e.id}>
                <td>{formatTime(e.at)}</td>
                <td>{e.type}</td>
                <td>
                  <code class="detail">{summary(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** `key=value` pairs of an event's detail, nested values as JSON. */
function summary(detail: Readonly<Record<string, unknown>>): string {
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("  ");
}
