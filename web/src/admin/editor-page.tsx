import validatorWorker from "teamstack:validator-worker";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client.ts";
import { useConsole } from "../app/context.ts";
import { href, navigate } from "../app/router.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { type EditorState, TemplateEditor } from "../editor/template-editor.tsx";
import { createValidator, type Validator } from "../editor/validator-client.ts";
import { getTemplate, getTemplateText, publishTemplate } from "./api.ts";

/** What a new template starts from: the smallest useful one, on the simulator. */
export const STARTER = `# A stack template: servers, the order references give them, hooks before and after.
vars:
  greeting: hello

servers:
  - name: db
    provider: sim
    type: t3.micro
  - name: web
    provider: sim
    type: t3.micro
    user_data: |
      echo "$vars.greeting, db is at $servers.db.IP" >> /etc/config
`;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
/** NAME for the input's `pattern` (anchored by the browser, compiled with the `v` flag: `-` escaped). */
const NAME_PATTERN = "[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,62}";

let shared: Validator | undefined;
/** One validator (one worker) for every visit to the editor. */
function validator(): Validator {
  shared ??= createValidator(new URL(validatorWorker, document.baseURI).href);
  return shared;
}

/**
 * Writing a template: a new one (`#/new-template`) or a new version of one
 * (`#/templates/NAME/edit`, starting from its newest version). Validated as it is typed; Publish is
 * offered once the text has no problems, and the API checks it again.
 */
export default function EditorPage(props: PageProps) {
  const existing = props.params.name;
  const { api, session } = useConsole();
  const [name, setName] = useState(existing ?? "");
  const [text, setText] = useState<string | undefined>(existing ? undefined : STARTER);
  const [base, setBase] = useState<{ version: number; yaml: string } | undefined>();
  const [state, setState] = useState<EditorState | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!existing) return;
    void (async () => {
      try {
        const detail = await getTemplate(api, session.team, existing);
        const newest = Math.max(...detail.versions.map((v) => v.version));
        const v = await getTemplateText(api, session.team, existing, newest);
        setBase({ version: newest, yaml: v.yaml });
        setText(v.yaml);
      } catch (e) {
        setError(e);
      }
    })();
  }, [existing]);

  const onState = useCallback((s: EditorState) => setState(s), []);
  const nameProblem =
    name === "" ? "a name is needed" : NAME.test(name) ? undefined : "letters, digits, _ . -";
  const unchanged = base !== undefined && text === base.yaml;
  const ready =
    text !== undefined &&
    state?.checked === true &&
    state.problems.length === 0 &&
    !nameProblem &&
    !unchanged;

  async function publish() {
    if (text === undefined) return;
    setBusy(true);
    setError(undefined);
    try {
      const out = await publishTemplate(api, session.team, name, text);
      navigate(`/templates/${encodeURIComponent(out.name)}?published=${out.version}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <p class="meta">
        <a href={href("/templates")}>Templates</a> /
        {existing && (
          <>
            {" "}
            <a href={href(`/templates/${encodeURIComponent(existing)}`)}>{existing}</a> /
          </>
        )}
      </p>
      <h1>{existing ? `New version of ${existing}` : "New template"}</h1>
      {base && (
        <p class="hint">
          Starting from v{base.version}. Publishing makes v{base.version + 1}.
        </p>
      )}
      {error !== undefined && (
        <ErrorBanner
          error={
            error instanceof ApiError && error.status === 422 && error.problems.length === 0
              ? new ApiError(422, error.code, `the API refused the template: ${error.message}`)
              : error
          }
          onDismiss={() => setError(undefined)}
        />
      )}
      <form
        class="editor-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) void publish();
        }}
      >
        {!existing && (
          <label class="field">
            Name{" "}
            <input
              value={name}
              required
              pattern={NAME_PATTERN}
              aria-invalid={name !== "" && nameProblem !== undefined}
              onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
            />
            {name !== "" && nameProblem && <span class="hint">{nameProblem}</span>}
          </label>
        )}
        {text === undefined ? (
          error === undefined && <p aria-busy="true">Loading…</p>
        ) : (
          <TemplateEditor
            value={text}
            onInput={setText}
            file={`${name || "template"}.yaml`}
            validator={validator()}
            onState={onState}
          />
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={!ready || busy} aria-busy={busy}>
            Publish
          </button>
          {unchanged && <span class="hint">No changes from v{base?.version}.</span>}
        </div>
      </form>
    </>
  );
}
