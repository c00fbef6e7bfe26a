import { useState } from "preact/hooks";
import type { CredentialField } from "../../../src/core/providers.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import type { PageProps } from "../app/routes.ts";
import { ConfirmDialog, ErrorBanner } from "../app/ui.tsx";
import { type Credential, paths, putCredential, removeCredential } from "./api.ts";
import { formatTime } from "./format.ts";

/** The providers a team registers credentials for, with their schemas, from the registry. */
const TAKERS = PROVIDERS.declarations.filter((d) => d.credentials !== undefined);

/** Whether a provider's credential field is secret (kept, never answered), by the registry. */
function isSecret(provider: string, field: string): boolean {
  return PROVIDERS.lookup(provider)?.credentials?.fields[field]?.secret === true;
}

/**
 * The team's credentials: names, providers and which fields each has (secret ones marked), and a
 * form to register or replace one. The API never sends a credential's values, and this page
 * forgets the secret ones it sent as soon as the API has them.
 */
export default function CredentialsPage(_props: PageProps) {
  const { api, session } = useConsole();
  const list = useResource<{ credentials: Credential[] }>(paths.credentials(session.team), () => false);
  const [notice, setNotice] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [removing, setRemoving] = useState<Credential | undefined>();
  return (
    <>
      <h1>Credentials</h1>
      <p class="hint">
        Names and fields only: values are kept by the deployment and never shown again. Also{" "}
        <code>teamstack credentials set</code> or <code>PUT /teams/{session.team}/credentials/NAME</code>.
      </p>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
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
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.credentials.map((c) => (
              <tr key={c.name}>
                <td>{c.name}</td>
                <td>{c.provider}</td>
                <td>
                  {c.fields.map((f, i) => (
                    <span key={f}>
                      {i > 0 && ", "}
                      {f}
                      {isSecret(c.provider, f) && <span class="badge s-skipped">secret</span>}
                    </span>
                  ))}
                </td>
                <td>{formatTime(c.updatedAt)}</td>
                <td class="actions">
                  <button type="button" class="danger" onClick={() => setRemoving(c)}>
                    Remove {c.name}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove credential ${removing.name}?`}
          confirmLabel="Remove"
          danger
          onCancel={() => setRemoving(undefined)}
          onConfirm={async () => {
            const c = removing;
            setRemoving(undefined);
            try {
              await removeCredential(api, session.team, c.name);
              setNotice(`Removed credential ${c.name}.`);
              list.reload();
            } catch (err) {
              setError(err);
            }
          }}
        >
          <p>Servers that name it can no longer be created, started or reached.</p>
        </ConfirmDialog>
      )}
      {TAKERS.length > 0 && (
        <RegisterForm
          onSaved={(name) => {
            setNotice(`Registered credential ${name}.`);
            list.reload();
          }}
        />
      )}
    </>
  );
}

/** One field of a provider's credential schema as an input: secret ones masked, PEM text in a text area. */
function FieldInput(props: {
  readonly name: string;
  readonly spec: CredentialField;
  readonly value: string;
  readonly onInput: (value: string) => void;
}) {
  const { name, spec, value } = props;
  const label = `${name}${spec.secret ? " (secret)" : ""}${spec.required ? "" : " (optional)"}`;
  const pem = spec.value.kind === "string" && spec.value.describe === "PEM";
  const required = spec.required === true;
  const onInput = (e: { currentTarget: { value: string } }) => props.onInput(e.currentTarget.value);
  // Each control is named by its aria-label.
  const attrs = { "aria-label": label, value, required, autocomplete: "off", spellcheck: false, onInput };
  return (
    <div class="field">
      <span>
        {label}
        {spec.doc && <span class="hint"> {spec.doc}</span>}
      </span>
      {pem ? (
        <textarea rows={4} class={spec.secret ? "secret" : undefined} {...attrs} />
      ) : spec.secret ? (
        <input type="password" {...attrs} />
      ) : (
        <input type="text" {...attrs} />
      )}
    </div>
  );
}

/** Registers (or replaces) a credential: a name, a provider, and that provider's fields. */
function RegisterForm(props: { readonly onSaved: (name: string) => void }) {
  const { api, session } = useConsole();
  const [name, setName] = useState("");
  const [provider, setProvider] = useState(TAKERS[0]?.name ?? "");
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const schema = PROVIDERS.lookup(provider)?.credentials;
  return (
    <form
      class="card credential-form"
      aria-label="Register a credential"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!schema) return;
        const fields: Record<string, string> = {};
        for (const field of Object.keys(schema.fields)) {
          const v = values[field] ?? "";
          if (v !== "") fields[field] = v;
        }
        setBusy(true);
        setError(undefined);
        try {
          await putCredential(api, session.team, name, { provider, ...fields });
          // The secret values are the API's now: nothing of them stays in the page.
          setValues({});
          setName("");
          props.onSaved(name);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>Register a credential</h2>
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
      <label class="field">
        <span>Name</span>
        <input
          aria-label="Name"
          value={name}
          required
          maxLength={64}
          autocomplete="off"
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Provider</span>
        <select
          aria-label="Provider"
          value={provider}
          onChange={(e) => {
            setProvider(e.currentTarget.value);
            setValues({});
          }}
        >
          {TAKERS.map((d) => (
            <option key={d.name} value={d.name}>
              {d.name}
            </option>
          ))}
        </select>
      </label>
      {schema && <p class="hint">{schema.describe}</p>}
      {schema &&
        Object.entries(schema.fields).map(([field, spec]) => (
          <FieldInput
            key={`${provider}/${field}`}
            name={field}
            spec={spec}
            value={values[field] ?? ""}
            onInput={(v) => setValues((old) => ({ ...old, [field]: v }))}
          />
        ))}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Register
        </button>
      </div>
    </form>
  );
}
