import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { type Credential, paths } from "./api.ts";
import { formatTime } from "./format.ts";

/**
 * The team's cloud credentials: names, providers and which fields each has. The API never sends a
 * credential's values, and this page has nowhere to show one.
 */
export default function CredentialsPage(_props: PageProps) {
  const { session } = useConsole();
  const list = useResource<{ credentials: Credential[] }>(paths.credentials(session.team), () => false);
  return (
    <>
      <h1>Credentials</h1>
      <p class="hint">
        Names and fields only: values are kept by the deployment and never shown again. Register one with{" "}
        <code>PUT /teams/{session.team}/credentials/NAME</code> or <code>teamstack secrets</code>.
      </p>
      {list.error && <ErrorBanner error={list.error} />}
      {list.loading && <p aria-busy="true">Loading…</p>}
      {list.data && list.data.credentials.length === 0 && <p class="hint">No credentials registered.</p>}
      {list.data && list.data.credentials.length > 0 && (
        <table aria-label="Credentials">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Provider</th>
              <th scope="col">Fields</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {list.data.credentials.map((c) => (
              <tr key={c.name}>
                <td>{c.name}</td>
                <td>{c.provider}</td>
                <td>{c.fields.join(", ")}</td>
                <td>{formatTime(c.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
