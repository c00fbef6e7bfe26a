import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { formatDuration, stackProgress } from "../../../src/core/progress.ts";
import { seg } from "../api/client.ts";
import type { StackView, Started } from "../api/types.ts";
import { useNow, useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href, navigate } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ActionButton, ConfirmDialog, ErrorBanner, formatTime, StatusBadge } from "../app/ui.tsx";
import { StackGraph } from "../graph/stack-graph.tsx";
import { actionsFor, isBusy } from "./actions.ts";
import { ServerLogs } from "./logs.tsx";
import { UpdatePanel } from "./update-panel.tsx";

/** A provider's typical time from create to ready, until this stack has finished servers to learn from. */
const TYPICAL_MS: Readonly<Record<string, number>> = { aws: 60_000, local: 3_000, sim: 1_000 };

const ARTIFACT_COLUMNS = ["IP", "Id"] as const;

/** GET path of a stack's status. */
export const stackPath = (team: string, id: string) => `/teams/${seg(team)}/stacks/${seg(id)}`;

/** One stack: its servers as a live graph, the estimate, artifacts, hooks, logs and actions. */
export function StackPage(props: PageProps) {
  const { api, session } = useConsole();
  const id = props.params.id as string;
  const base = stackPath(session.team, id);
  const res = useResource<StackView>(base, (m) => m.kind === "stack" && m.stackId === id);
  const now = useNow(1000);
  const [selected, setSelected] = useState<string | undefined>(props.query.get("server") ?? undefined);
  const [panel, setPanel] = useState<"update" | "destroy" | "extend" | undefined>();
  const [by, setBy] = useState("2h");
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();

  if (res.loading) return <p aria-busy="true">Loading stack {id}…</p>;
  const view = res.data;
  if (!view) {
    return (
      <>
        <ErrorBanner error={res.error} />
        <a href={href("/stacks")}>Back to the stacks</a>
      </>
    );
  }

  const progress = stackProgress(view, now, { typicalMs: (p) => TYPICAL_MS[p] });
  const can = actionsFor(view);
  const title = view.name ?? view.stackId;
  const act = async (what: string, run: () => Promise<Started | Record<string, unknown>>) => {
    setError(undefined);
    setNotice(undefined);
    const out = await run();
    setNotice("executionName" in out ? `${what}: started ${out.executionName}` : what);
    res.reload();
  };
  const dependsOn = new Map(view.servers.map((s) => [s.name, s.dependsOn]));
  const stackArtifacts = Object.entries(view.artifacts).filter(
    (e): e is [string, string] => typeof e[1] === "string",
  );

  let summary: string;
  if (isBusy(view.status)) {
    const e = progress.estimate;
    summary = e
      ? `Ready in about ${formatDuration(e.remainingMs)} (critical path: ${e.criticalPath.join(" → ")})`
      : `${view.status.toLowerCase()} for ${formatDuration(progress.elapsedMs)}`;
  } else if (view.finishedAt) {
    summary = `${view.status === "SUCCEEDED" ? "Ready" : view.status.toLowerCase()} after ${formatDuration(progress.elapsedMs)}`;
  } else summary = view.status.toLowerCase();

  return (
    <>
      <p class="meta">
        <a href={href("/stacks")}>Stacks</a> / {title}
      </p>
      <h1>
        {title} <StatusBadge status={view.status} />
      </h1>
      <p class="meta">
        <span>Run {view.run}</span> · template {view.template.name ?? "(inline)"}
        {view.template.version !== null ? ` v${view.template.version}` : ""}
        {view.updateAvailable ? " (a newer version exists)" : ""} · member {view.member} · {progress.ready} of{" "}
        {progress.total} servers ready
        {view.expiresAt ? ` · expires ${formatTime(view.expiresAt)}` : ""}
        {view.stopsAt ? ` · stops ${formatTime(view.stopsAt)}` : ""}
      </p>
      <p class="estimate" role="status">
        {summary}
      </p>
      {view.error && <ErrorBanner error={new Error(view.error)} />}
      {res.error && <ErrorBanner error={res.error} />}
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
      {notice && <p class="notice">{notice}</p>}

      <div class="toolbar" role="toolbar" aria-label="Stack actions">
        {can.has("rerun") && (
          <ActionButton
            label="Rerun"
            run={() => act("Rerun", () => api.post<Started>(`${base}/rerun`))}
            onError={setError}
          />
        )}
        {can.has("update") && (
          <button type="button" aria-expanded={panel === "update"} onClick={() => setPanel("update")}>
            Update…
          </button>
        )}
        {can.has("stop") && (
          <ActionButton
            label="Stop"
            run={() => act("Stop", () => api.post<Started>(`${base}/stop`))}
            onError={setError}
          />
        )}
        {can.has("start") && (
          <ActionButton
            label="Start"
            run={() => act("Start", () => api.post<Started>(`${base}/start`))}
            onError={setError}
          />
        )}
        {can.has("extend") && (
          <button type="button" aria-expanded={panel === "extend"} onClick={() => setPanel("extend")}>
            Extend…
          </button>
        )}
        {can.has("destroy") && (
          <button type="button" class="danger" onClick={() => setPanel("destroy")}>
            Destroy…
          </button>
        )}
        {can.size === 0 && (
          <span class="meta">No actions while the stack is {view.status.toLowerCase()}.</span>
        )}
      </div>

      {panel === "update" && (
        <UpdatePanel
          base={base}
          current={view.template.version}
          onCancel={() => setPanel(undefined)}
          onDone={(text) => {
            setPanel(undefined);
            setNotice(text);
            res.reload();
          }}
        />
      )}
      {panel === "extend" && (
        <form
          class="dialog toolbar"
          aria-label="Extend stack"
          onSubmit={(e) => {
            e.preventDefault();
            setPanel(undefined);
            act(`Extended by ${by}`, () => api.post<Record<string, unknown>>(`${base}/extend`, { by })).catch(
              setError,
            );
          }}
        >
          <label class="inline" for="extend-by">
            Extend by
          </label>
          <input
            id="extend-by"
            size={8}
            value={by}
            onInput={(e) => setBy((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary">
            Extend
          </button>
          <button type="button" onClick={() => setPanel(undefined)}>
            Cancel
          </button>
          <span class="meta">30m, 2h, 7d, 1d12h</span>
        </form>
      )}
      {panel === "destroy" && (
        <ConfirmDialog
          title={`Destroy stack ${title}?`}
          confirmLabel="Destroy"
          danger
          onCancel={() => setPanel(undefined)}
          onConfirm={() => {
            setPanel(undefined);
            act("Destroy", () => api.del<Started>(base))
              .then(() => navigate("/stacks"))
              .catch(setError);
          }}
        >
          <p>
            Its {view.servers.length} servers are deleted, and its destroy hooks run. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}

      <h2>Servers</h2>
      <StackGraph
        servers={progress.servers}
        dependsOn={dependsOn}
        now={now}
        selected={selected}
        onSelect={(s) => setSelected(s === selected ? undefined : s)}
      />
      {selected && view.servers.some((s) => s.name === selected) && (
        <ServerLogs stackId={id} server={selected} onClose={() => setSelected(undefined)} />
      )}

      <h2>Artifacts</h2>
      <table aria-label="Artifacts">
        <thead>
          <tr>
            <th scope="col">Server</th>
            <th scope="col">State</th>
            {ARTIFACT_COLUMNS.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
            <th scope="col">Provider</th>
            <th scope="col">Other</th>
            <th scope="col">Logs</th>
          </tr>
        </thead>
        <tbody>
          {view.servers.map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>
                <StatusBadge status={s.status} />
                {s.change ? <span class="meta"> ({s.change})</span> : null}
                {s.error ? <div class="meta">{s.error}</div> : null}
              </td>
              {ARTIFACT_COLUMNS.map((c) => (
                <td key={c}>
                  <code>{s.artifacts[c] ?? ""}</code>
                </td>
              ))}
              <td>
                {s.provider} · {s.type}
              </td>
              <td class="meta">
                {Object.entries(s.artifacts)
                  .filter(([k]) => !(ARTIFACT_COLUMNS as readonly string[]).includes(k))
                  .map(([k, v]) => `${k} ${v}`)
                  .join(" · ")}
              </td>
              <td>
                <button
                  type="button"
                  aria-label={`Logs of ${s.name}`}
                  aria-pressed={selected === s.name}
                  onClick={() => setSelected(s.name)}
                >
                  Logs
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {stackArtifacts.length > 0 && (
        <dl class="artifacts card" aria-label="Stack artifacts">
          {stackArtifacts.map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </Fragment>
          ))}
        </dl>
      )}

      {view.hooks.length > 0 && (
        <>
          <h2>Hooks</h2>
          <table aria-label="Hooks">
            <thead>
              <tr>
                <th scope="col">Phase</th>
                <th scope="col">Hook</th>
                <th scope="col">State</th>
                <th scope="col">Output or error</th>
              </tr>
            </thead>
            <tbody>
              {view.hooks.map((h) => (
                <tr key={`${h.phase}-${h.index}`}>
                  <td>
                    {h.phase} {h.index + 1}
                  </td>
                  <td>{h.type}</td>
                  <td>
                    <StatusBadge status={h.status} />
                  </td>
                  <td class="meta">{h.error ?? h.output ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
