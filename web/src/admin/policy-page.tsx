import { useEffect, useState } from "preact/hooks";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { useResource } from "../api/use-resource.ts";
import { useConsole } from "../app/context.ts";
import type { PageProps } from "../app/routes.ts";
import { ErrorBanner } from "../app/ui.tsx";
import { paths, setPolicy } from "./api.ts";
import { formatTime } from "./format.ts";
import { ON_MEMBER_LEFT, type PolicyView } from "./types.ts";

/** The team's policy: which providers its templates may use, and what a member's leaving does. */
export default function PolicyPage(_props: PageProps) {
  const { api, session } = useConsole();
  const policy = useResource<PolicyView>(paths.policy(session.team), () => false);
  const [providers, setProviders] = useState<string[]>([]);
  const [onLeft, setOnLeft] = useState("destroy");
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const p = policy.data;
  // The form starts from the saved policy, and again only when a newer one is saved: a refresh
  // (polling, the stream) must not undo what the admin is changing.
  const saved = p ? `${p.updatedAt ?? ""}|${p.providers.join(",")}|${p.onMemberLeft ?? ""}` : undefined;
  useEffect(() => {
    if (!p) return;
    setProviders([...p.providers]);
    setOnLeft(p.onMemberLeft ?? "destroy");
  }, [saved]);
  // Every provider teamstack knows may be allowed, those this deployment does not offer included.
  const known = p ? [...new Set([...PROVIDERS.names, ...p.offered, ...p.providers])] : [];
  return (
    <>
      <h1>Policy</h1>
      {policy.error && <ErrorBanner error={policy.error} />}
      {error !== undefined && <ErrorBanner error={error} onDismiss={() => setError(undefined)} />}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {p && (
        <form
          class="card"
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(undefined);
            try {
              await setPolicy(api, session.team, { providers, on_member_left: onLeft });
              setNotice("Saved the team's policy.");
              policy.reload();
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }}
        >
          <fieldset>
            <legend>Providers the team's templates may use</legend>
            {known.map((name) => (
              <label key={name} class="check">
                <input
                  type="checkbox"
                  checked={providers.includes(name)}
                  onChange={(e) =>
                    setProviders((list) =>
                      e.currentTarget.checked ? [...list, name] : list.filter((n) => n !== name),
                    )
                  }
                />{" "}
                {name}
                {!p.offered.includes(name) && <span class="hint"> (not offered here)</span>}
              </label>
            ))}
          </fieldset>
          <p class="hint">
            Here admins may use {p.usable.admins.join(", ") || "none"}; members{" "}
            {p.usable.members.join(", ") || "none"}.
          </p>
          <label class="field">
            When a member leaves, their stacks are{" "}
            <select value={onLeft} onChange={(e) => setOnLeft(e.currentTarget.value)}>
              {ON_MEMBER_LEFT.map((o) => (
                <option key={o} value={o}>
                  {o === "destroy" ? "destroyed" : o === "stop" ? "stopped" : "kept"}
                </option>
              ))}
            </select>
          </label>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Save policy
            </button>
            <span class="hint">
              {p.default
                ? "No policy set yet: the default applies."
                : `Set by ${p.updatedBy} at ${formatTime(p.updatedAt)}.`}
            </span>
          </div>
        </form>
      )}
    </>
  );
}
