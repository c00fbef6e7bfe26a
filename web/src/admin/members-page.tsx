import { useState } from "preact/hooks";
import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { type Member, paths, setMemberData } from "./api.ts";
import { formatTime } from "./format.ts";

/** The team's members and the data each gives templates (`$koding.userdata.KEY`); an admin edits it. */
export default function MembersPage(_props: PageProps) {
  const { session } = useConsole();
  const list = useResource<{ members: Member[] }>(paths.members(session.team), () => false);
  const [editing, setEditing] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  return (
    <>
      <h1>Members</h1>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {list.error && <ErrorBanner error={list.error} />}
      {list.loading && <p aria-busy="true">Loading…</p>}
      {list.data && list.data.members.length === 0 && (
        <p class="hint">No member has data yet: members appear when they sign up or get data.</p>
      )}
      {list.data && list.data.members.length > 0 && (
        <table aria-label="Members">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Data</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.members.map((m) => (
              <tr key={m.member}>
                <td>
                  {m.member}
                  {m.left && <span class="badge s-skipped">left</span>}
                </td>
                <td>
                  {editing === m.member ? (
                    <DataEditor
                      member={m}
                      onDone={(saved) => {
                        setEditing(undefined);
                        if (saved) {
                          setNotice(`Saved ${m.member}'s data.`);
                          list.reload();
                        }
                      }}
                    />
                  ) : (
                    <dl class="pairs">
                      {Object.entries(m.data).map(([k, v]) => (
                        <div key={k}>
                          <dt>{k}</dt>
                          <dd>{v}</dd>
                        </div>
                      ))}
                    </dl>
                  )}
                </td>
                <td>{formatTime(m.updatedAt)}</td>
                <td class="actions">
                  {editing !== m.member && (
                    <button type="button" onClick={() => setEditing(m.member)}>
                      Edit {m.member}'s data
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** Key and value rows; saving replaces the member's data with them. */
function DataEditor(props: { readonly member: Member; readonly onDone: (saved: boolean) => void }) {
  const { api, session } = useConsole();
  const [rows, setRows] = useState<[string, string][]>(() => [
    ...Object.entries(props.member.data),
    ["", ""],
  ]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const set = (i: number, j: 0 | 1, value: string) =>
    setRows((r) => {
      const next = r.map((row) => [...row] as [string, string]);
      (next[i] as [string, string])[j] = value;
      if (i === next.length - 1 && value !== "") next.push(["", ""]);
      return next;
    });
  return (
    <form
      aria-label={`${props.member.member}'s data`}
      onSubmit={async (e) => {
        e.preventDefault();
        const data: Record<string, string> = {};
        for (const [k, v] of rows) if (k.trim() !== "") data[k.trim()] = v;
        setBusy(true);
        try {
          await setMemberData(api, session.team, props.member.member, data);
          props.onDone(true);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      {error !== undefined && <ErrorBanner error={error} />}
      {rows.map(([k, v], i) => (
        <div class="pair-row" key={i}>
          <input aria-label={`Key ${i + 1}`} value={k} onInput={(e) => set(i, 0, e.currentTarget.value)} />
          <input aria-label={`Value ${i + 1}`} value={v} onInput={(e) => set(i, 1, e.currentTarget.value)} />
        </div>
      ))}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={() => props.onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
