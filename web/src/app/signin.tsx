import { useEffect, useState } from "preact/hooks";
import { createApiClient } from "../api/client.ts";
import type { Session } from "./context.ts";
import { type ConsoleConfig, redeemCode, storeToken, whoami } from "./session.ts";
import { ErrorBanner } from "./ui.tsx";

/**
 * The sign-in page: paste a token from `teamstack token`, or arrive by the one-time link that
 * `teamstack serve` prints (`#/signin?code=...`), which is traded for a token once.
 */
export function SignInPage(props: {
  readonly config: ConsoleConfig;
  readonly code: string | null;
  readonly notice?: string | undefined;
  readonly onSignedIn: (token: string, session: Session) => void;
}) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function signIn(value: string) {
    setBusy(true);
    setError(undefined);
    try {
      const session = await whoami(createApiClient(props.config.apiBase, value));
      storeToken(value);
      props.onSignedIn(value, session);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    if (!props.code) return;
    const code = props.code;
    // The code is single use: take it out of the address bar and history first.
    history.replaceState(null, "", `${location.pathname}${location.search}#/signin`);
    setBusy(true);
    redeemCode(props.config, code).then(signIn, (e: unknown) => {
      setError(e);
      setBusy(false);
    });
  }, [props.code]);

  return (
    <main class="signin">
      <h1>Sign in to teamstack</h1>
      {props.notice && <p class="notice">{props.notice}</p>}
      {error !== undefined && <ErrorBanner error={error} />}
      {busy && props.code && <p aria-busy="true">Signing in with the one-time link…</p>}
      {props.config.signIn.oidc && (
        <p>
          <button
            type="button"
            class="primary"
            disabled={busy}
            onClick={() => {
              const oidc = props.config.signIn.oidc;
              if (!oidc) return;
              setBusy(true);
              import("../auth/browser.ts")
                .then(({ startOidcSignIn }) => startOidcSignIn(oidc))
                .catch((e: unknown) => {
                  setError(e);
                  setBusy(false);
                });
            }}
          >
            Sign in with {hostOf(props.config.signIn.oidc.issuer)}
          </button>
        </p>
      )}
      {props.config.signIn.token && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const value = token.trim();
            if (value === "") setError(new Error("paste a token first"));
            else void signIn(value);
          }}
        >
          <label for="token">Token</label>
          <textarea
            id="token"
            rows={4}
            spellcheck={false}
            autocomplete="off"
            placeholder="eyJ..."
            value={token}
            onInput={(e) => setToken((e.target as HTMLTextAreaElement).value)}
          />
          <p class="hint">
            Print one with <code>teamstack token --team TEAM --member NAME</code>, or open the one-time link{" "}
            <code>teamstack serve</code> prints.
          </p>
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </form>
      )}
    </main>
  );
}

/** The issuer's host, to name it on the button (the whole URL when it does not parse). */
function hostOf(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}
