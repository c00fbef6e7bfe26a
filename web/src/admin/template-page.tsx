import { useEffect, useState } from "preact/hooks";
import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import { href, navigate } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ActionButton, ErrorBanner } from "../app/ui.tsx";
import { DiffView } from "../editor/diff-view.tsx";
import { getTemplateText, paths, setDefaultTemplate, startRollout } from "./api.ts";
import { formatTime, plural } from "./format.ts";
import type { TemplateDetail } from "./types.ts";

interface OutdatedStack {
  readonly stackId: string;
  readonly member: string;
  readonly template: string | null;
  readonly version: number | null;
  readonly status: string;
}

/**
 * One template: its versions (which is the default), the difference between two of them, setting
 * the default, and starting a rollout of a version to the stacks on older ones.
 */
export default function TemplatePage(props: PageProps) {
  const name = props.params.name as string;
  const { api, session } = useConsole();
  const detail = useResource<TemplateDetail>(paths.template(session.team, name), () => false);
  const outdated = useResource<OutdatedStack[]>(
    paths.outdatedStacks(session.team),
    (m) => m.kind === "stack" && m.type.startsWith("Stack"),
  );
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>(() => {
    const v = props.query.get("published");
    return v ? `Published version ${v}.` : undefined;
  });

  const versions = detail.data?.versions ?? [];
  const newest = versions.reduce((n, v) => Math.max(n, v.version), 0);
  const behind = (outdated.data ?? [])
    .filter((s) => s.template === name)
    .sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));

  return (
    <>
      <p class="meta">
        <a href={href("/templates")}>Templates</a> /
      </p>
      <div class="toolbar">
        <h1>Template {name}</h1>
        <a class="button primary" href={href(`/templates/${encodeURIComponent(name)}/edit`)}>
          Edit as a new version
        </a>
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {detail.error && <ErrorBanner error={detail.error} />}
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
      {detail.data && (
        <section aria-labelledby="versions">
          <h2 id="versions">Versions</h2>
          <table aria-label="Versions">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Author</th>
                <th scope="col">Published</th>
                <th scope="col">SHA-256</th>
                <th scope="col">Default</th>
              </tr>
            </thead>
            <tbody>
              {[...versions]
                .sort((a, b) => b.version - a.version)
                .map((v) => (
                  <tr key={v.version}>
                    <td>v{v.version}</td>
                    <td>{v.author}</td>
                    <td>{formatTime(v.createdAt)}</td>
                    <td>
                      <code title={v.hash}>{v.hash.slice(0, 12)}</code>
                    </td>
                    <td>
                      {detail.data?.defaultVersion === v.version ? (
                        <strong>Default</strong>
                      ) : (
                        <ActionButton
                          label={`Set v${v.version} as default`}
                          onError={setError}
                          run={async () => {
                            await setDefaultTemplate(api, session.team, name, v.version);
                            setNotice(`Version ${v.version} is now the team's default template.`);
                            detail.reload();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        </section>
      )}
      {newest > 0 && (
        <RolloutForm
          newest={newest}
          behind={behind}
          onStart={async (req) => {
            const r = await startRollout(api, session.team, name, req);
            navigate(`/rollouts/${encodeURIComponent(r.rolloutId)}`);
          }}
          onError={setError}
        />
      )}
      {versions.length > 1 && <Compare name={name} newest={newest} />}
    </>
  );
}

function RolloutForm(props: {
  readonly newest: number;
  readonly behind: readonly OutdatedStack[];
  readonly onStart: (req: {
    version: number;
    canary: number;
    batch: number;
    max_failed_percent: number;
  }) => Promise<void>;
  readonly onError: (e: unknown) => void;
}) {
  const [version, setVersion] = useState(props.newest);
  const [canary, setCanary] = useState(1);
  const [batch, setBatch] = useState(5);
  const [maxFailed, setMaxFailed] = useState(0);
  const [busy, setBusy] = useState(false);
  useEffect(() => setVersion(props.newest), [props.newest]);
  const affected = props.behind.filter((s) => (s.version ?? 0) < version);
  return (
    <section aria-labelledby="rollout" class="card">
      <h2 id="rollout">Roll out</h2>
      <p>
        {affected.length === 0
          ? `No stack of this template is on a version older than v${version}.`
          : `${plural(affected.length, "stack")} on an older version: ${affected
              .map((s) => `${s.member} (v${s.version})`)
              .join(", ")}.`}
      </p>
      <form
        class="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            await props.onStart({ version, canary, batch, max_failed_percent: maxFailed });
          } catch (error) {
            props.onError(error);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          Version{" "}
          <input
            type="number"
            min={1}
            max={props.newest}
            value={version}
            onInput={(e) => setVersion(Number((e.currentTarget as HTMLInputElement).value))}
          />
        </label>
        <label>
          Canary stacks{" "}
          <input
            type="number"
            min={0}
            value={canary}
            onInput={(e) => setCanary(Number((e.currentTarget as HTMLInputElement).value))}
          />
        </label>
        <label>
          Stacks per wave{" "}
          <input
            type="number"
            min={1}
            value={batch}
            onInput={(e) => setBatch(Number((e.currentTarget as HTMLInputElement).value))}
          />
        </label>
        <label>
          Stop above failed %{" "}
          <input
            type="number"
            min={0}
            max={100}
            value={maxFailed}
            onInput={(e) => setMaxFailed(Number((e.currentTarget as HTMLInputElement).value))}
          />
        </label>
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          Start rollout
        </button>
      </form>
    </section>
  );
}

/** Two versions chosen, their texts fetched and diffed. */
function Compare(props: { readonly name: string; readonly newest: number }) {
  const { api, session } = useConsole();
  const [from, setFrom] = useState(Math.max(1, props.newest - 1));
  const [to, setTo] = useState(props.newest);
  const [texts, setTexts] = useState<{ from: string; to: string; key: string } | undefined>();
  const [error, setError] = useState<unknown>();
  const key = `${from}:${to}`;
  useEffect(() => {
    let stale = false;
    setError(undefined);
    Promise.all([
      getTemplateText(api, session.team, props.name, from),
      getTemplateText(api, session.team, props.name, to),
    ]).then(
      ([a, b]) => {
        if (!stale) setTexts({ from: a.yaml, to: b.yaml, key });
      },
      (e: unknown) => !stale && setError(e),
    );
    return () => {
      stale = true;
    };
  }, [key, props.name]);
  const options = Array.from({ length: props.newest }, (_, i) => i + 1);
  return (
    <section aria-labelledby="compare">
      <h2 id="compare">Compare versions</h2>
      <div class="inline-form">
        <label>
          From{" "}
          <select
            value={from}
            onChange={(e) => setFrom(Number((e.currentTarget as HTMLSelectElement).value))}
          >
            {options.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
        </label>
        <label>
          To{" "}
          <select value={to} onChange={(e) => setTo(Number((e.currentTarget as HTMLSelectElement).value))}>
            {options.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error !== undefined && <ErrorBanner error={error} />}
      {texts?.key === key ? (
        <DiffView oldText={texts.from} newText={texts.to} oldLabel={`v${from}`} newLabel={`v${to}`} />
      ) : (
        error === undefined && <p aria-busy="true">Loading…</p>
      )}
    </section>
  );
}
