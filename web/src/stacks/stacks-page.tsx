import { useState } from "preact/hooks";
import { seg } from "../api/client.ts";
import type { StackSummary, Started } from "../api/types.ts";
import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ActionButton, ConfirmDialog, ErrorBanner, formatTime, StatusBadge } from "../app/ui.tsx";
import { actionsFor } from "./actions.ts";

/** GET path of the stacks list. */
export const stacksPath = (team: string) => `/teams/${seg(team)}/stacks`;

/** The stacks the caller may see (a member's own; an admin's whole team), kept up to date. */
export function StacksPage(_props: PageProps) {
  const { api, session } = useConsole();
  const list = useResource<StackSummary[]>(stacksPath(session.team), (m) => m.kind === "stack");
  const [showDestroyed, setShowDestroyed] = useState(false);
  const [error, setError] = useState<unknown>();
  const [confirm, setConfirm] = useState<StackSummary | undefined>();
  const [notice, setNotice] = useState<string | undefined>();

  const stacks = (list.data ?? [])
    .filter((s) => showDestroyed || s.status !== "DESTROYED")
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const destroyed = (list.data ?? []).filter((s) => s.status === "DESTROYED").length;
  const base = (s: StackSummary) => `/teams/${seg(session.team)}/stacks/${seg(s.stackId)}`;
  const act = async (what: string, run: () => Promise<Started>) => {
    setError(undefined);
    const out = await run();
    setNotice(`${what}: started ${out.executionName}`);
    list.reload();
  };

  return (
    <>
      <h1>{session.admin ? `Stacks of team ${session.team}` : "Your stacks"}</h1>
      {list.error && <ErrorBanner error={list.error} />}
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {confirm && (
        <ConfirmDialog
          title={`Destroy stack ${confirm.name ?? confirm.stackId}?`}
          confirmLabel="Destroy"
          danger
          onCancel={() => setConfirm(undefined)}
          onConfirm={() => {
            const s = confirm;
            setConfirm(undefined);
            act(`Destroying ${s.name ?? s.stackId}`, () => api.del<Started>(base(s))).catch(setError);
          }}
        >
          <p>Every server of the stack is deleted. This cannot be undone.</p>
        </ConfirmDialog>
      )}
      {list.loading ? (
        <p aria-busy="true">Loading stacks…</p>
      ) : (
        <table>
          <caption class="meta count">
            {stacks.length} stack{stacks.length === 1 ? "" : "s"}
            {destroyed > 0 && (
              <label class="inline">
                {" "}
                ·{" "}
                <input
                  type="checkbox"
                  checked={showDestroyed}
                  onChange={(e) => setShowDestroyed((e.target as HTMLInputElement).checked)}
                />{" "}
                show {destroyed} destroyed
              </label>
            )}
          </caption>
          <thead>
            <tr>
              <th scope="col">Stack</th>
              {session.admin && <th scope="col">Member</th>}
              <th scope="col">Status</th>
              <th scope="col">Template</th>
              <th scope="col">Version</th>
              <th scope="col">Started</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {stacks.length === 0 && (
              <tr>
                <td colSpan={session.admin ? 7 : 6} class="meta">
                  No stacks yet. <code>teamstack up TEMPLATE.yaml</code> makes one.
                </td>
              </tr>
            )}
            {stacks.map((s) => {
              const can = actionsFor({ status: s.status, template: s.template });
              const label = s.name ?? s.stackId;
              return (
                <tr key={s.stackId}>
                  <td>
                    <a href={href(`/stacks/${encodeURIComponent(s.stackId)}`)}>{label}</a>
                    {s.name && s.name !== s.stackId && <div class="meta">{s.stackId}</div>}
                  </td>
                  {session.admin && <td>{s.member}</td>}
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td>{s.template ?? "(inline)"}</td>
                  <td>{s.version ?? ""}</td>
                  <td>{formatTime(s.startedAt)}</td>
                  <td class="actions">
                    {can.has("rerun") && (
                      <ActionButton
                        label="Rerun"
                        name={`Rerun ${label}`}
                        run={() => act(`Rerunning ${label}`, () => api.post<Started>(`${base(s)}/rerun`))}
                        onError={setError}
                      />
                    )}
                    {can.has("destroy") && (
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Destroy ${label}`}
                        onClick={() => setConfirm(s)}
                      >
                        Destroy
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
