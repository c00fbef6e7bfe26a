import { useEffect, useState } from "preact/hooks";
import type { ChangeSet, Started } from "../api/types.ts";
import { useConsole } from "../app/context.ts";
import { ErrorBanner } from "../app/ui.tsx";

/**
 * Updating a stack: the change set first (GET .../changes?version=N: per server keep, create,
 * replace or delete with the reasons, and which hooks run), then the update once confirmed.
 */
export function UpdatePanel(props: {
  readonly base: string;
  readonly current: number | null;
  readonly onDone: (notice: string) => void;
  readonly onCancel: () => void;
}) {
  const { api } = useConsole();
  const [version, setVersion] = useState("");
  const [asked, setAsked] = useState<string>("");
  const [changes, setChanges] = useState<ChangeSet | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    setChanges(undefined);
    setError(undefined);
    const q = asked === "" ? "" : `?version=${encodeURIComponent(asked)}`;
    api.get<ChangeSet>(`${props.base}/changes${q}`).then(
      (c) => live && setChanges(c),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [asked, props.base]);

  const changed = changes?.servers.filter((s) => s.action !== "keep").length ?? 0;
  return (
    <div class="dialog" role="dialog" aria-modal="true" aria-label="Update stack">
      <h3>Update to a template version</h3>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked(version.trim());
        }}
      >
        <label class="inline" for="update-version">
          Version
        </label>
        <input
          id="update-version"
          inputMode="numeric"
          size={6}
          placeholder="newest"
          value={version}
          onInput={(e) => setVersion((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Show changes</button>
        <span class="meta">now on version {props.current ?? "?"}</span>
      </form>
      {error !== undefined && <ErrorBanner error={error} />}
      {!changes && error === undefined && <p aria-busy="true">Reading the change set…</p>}
      {changes && (
        <>
          <p>
            From version {changes.from.version ?? "?"} to version {changes.to.version ?? "?"}:{" "}
            {changed === 0 ? "no server changes" : `${changed} server${changed === 1 ? "" : "s"} change`}.
          </p>
          <table aria-label="Change set">
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Action</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {changes.servers.map((s) => (
                <tr key={s.name}>
                  <td>{s.name}</td>
                  <td>
                    <span class={`badge a-${s.action}`}>{s.action}</span>
                  </td>
                  <td>{s.reasons.join("; ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {changes.hooks.length > 0 && (
            <p class="meta">
              Hooks:{" "}
              {changes.hooks.map((h) => `${h.phase} ${h.index + 1} ${h.type}: ${h.action}`).join(" · ")}
            </p>
          )}
        </>
      )}
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={!changes || busy}
          onClick={async () => {
            setBusy(true);
            try {
              const body = asked === "" ? {} : { version: Number(asked) };
              const out = await api.post<Started>(`${props.base}/update`, body);
              props.onDone(
                `Updating to version ${changes?.to.version ?? "newest"}: started ${out.executionName}`,
              );
            } catch (e) {
              setError(e);
            } finally {
              setBusy(false);
            }
          }}
        >
          Confirm update
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
