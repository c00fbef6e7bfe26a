import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { paths } from "./api.ts";
import { formatTime } from "./format.ts";
import type { TemplateSummary } from "./types.ts";

/** The team's templates: each with its newest version, and which is the default for new members. */
export default function TemplatesPage(_props: PageProps) {
  const { session } = useConsole();
  const list = useResource<TemplateSummary[]>(paths.templates(session.team), () => false);
  return (
    <>
      <div class="toolbar">
        <h1>Templates</h1>
        <a class="button primary" href={href("/new-template")}>
          New template
        </a>
      </div>
      {list.error && <ErrorBanner error={list.error} />}
      {list.loading && <p aria-busy="true">Loading…</p>}
      {list.data && list.data.length === 0 && (
        <p class="hint">No templates yet: write one with “New template”, or push one with the CLI.</p>
      )}
      {list.data && list.data.length > 0 && (
        <table aria-label="Templates">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Newest version</th>
              <th scope="col">Default</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((t) => (
              <tr key={t.name}>
                <td>
                  <a href={href(`/templates/${encodeURIComponent(t.name)}`)}>{t.name}</a>
                </td>
                <td>v{t.latest}</td>
                <td>{t.default ? `default (v${t.defaultVersion ?? t.latest})` : ""}</td>
                <td>{formatTime(t.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
