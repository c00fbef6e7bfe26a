import { useEffect, useMemo, useState } from "preact/hooks";
import { createApiClient } from "../api/client.ts";
import { connectLive, type LiveMode } from "../api/live.ts";
import { Console, type ConsoleContext, type Session } from "./context.ts";
import { href, matchPath, navigate, useLocation } from "./router.ts";
import { HOME, ROUTES } from "./routes.ts";
import {
  type ConsoleConfig,
  forgetToken,
  loadConfig,
  sessionFromToken,
  storedToken,
  storeToken,
  whoami,
} from "./session.ts";
import { SignInPage } from "./signin.tsx";
import { ErrorBanner } from "./ui.tsx";

/** The console: sign-in, then the shell (who is signed in, the navigation) around the route's page. */
export function App() {
  const [config, setConfig] = useState<ConsoleConfig | undefined>();
  const [signedIn, setSignedIn] = useState<{ token: string; session: Session } | null | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const loc = useLocation();

  useEffect(() => {
    void (async () => {
      const c = await loadConfig();
      // Back from the deployment's OpenID Connect provider: trade its answer for the ID token,
      // the API's bearer (the sign-in code loads only then).
      const params = new URLSearchParams(location.search);
      if (params.has("state") && (params.has("code") || params.has("error"))) {
        try {
          const { finishOidcSignIn } = await import("../auth/browser.ts");
          const signedIn = await finishOidcSignIn();
          if (signedIn) storeToken(signedIn.token);
        } catch (e) {
          setError(e);
        }
      }
      setConfig(c);
      const token = storedToken();
      if (!token) return setSignedIn(null);
      const api = createApiClient(c.apiBase, token);
      // A teamstack token names its caller: render at once, and let /whoami confirm meanwhile.
      const known = sessionFromToken(token);
      if (known) setSignedIn({ token, session: known });
      try {
        const session = await whoami(api);
        if (
          !known ||
          known.team !== session.team ||
          known.member !== session.member ||
          known.admin !== session.admin
        )
          setSignedIn({ token, session });
      } catch (e) {
        forgetToken();
        setSignedIn(null);
        setError(e);
      }
    })();
  }, []);

  if (!config || signedIn === undefined) return <p aria-busy="true">Loading…</p>;
  if (signedIn === null || loc.path === "/signin") {
    return (
      <>
        {error !== undefined && <ErrorBanner error={error} />}
        <SignInPage
          config={config}
          code={loc.path === "/signin" ? loc.query.get("code") : null}
          notice={notice}
          onSignedIn={(token, session) => {
            setError(undefined);
            setNotice(undefined);
            setSignedIn({ token, session });
            navigate(HOME);
          }}
        />
      </>
    );
  }
  return (
    <Shell
      config={config}
      token={signedIn.token}
      session={signedIn.session}
      onSignOut={(why) => {
        forgetToken();
        setNotice(why);
        setSignedIn(null);
      }}
    />
  );
}

function Shell(props: {
  readonly config: ConsoleConfig;
  readonly token: string;
  readonly session: Session;
  readonly onSignOut: (notice?: string) => void;
}) {
  const { session } = props;
  const ctx = useMemo<ConsoleContext>(() => {
    const api = createApiClient(props.config.apiBase, props.token, () =>
      props.onSignOut("Your token was refused (expired?): sign in again."),
    );
    return { api, live: connectLive(api, session.team), session };
  }, [props.token]);
  useEffect(() => () => ctx.live.close(), [ctx]);
  const [mode, setMode] = useState<LiveMode>(ctx.live.mode);
  useEffect(() => ctx.live.onMode(setMode), [ctx]);

  const loc = useLocation();
  const visible = ROUTES.filter((r) => !r.admin || session.admin);
  let found: { route: (typeof ROUTES)[number]; params: Record<string, string> } | undefined;
  for (const route of visible) {
    const params = matchPath(route.path, loc.path);
    if (params) {
      found = { route, params };
      break;
    }
  }
  useEffect(() => {
    if (loc.path === "/") navigate(HOME);
  }, [loc.path]);
  useEffect(() => {
    document.title = found ? `${found.route.title} · teamstack` : "teamstack";
  }, [found?.route]);

  const Page = found?.route.page;
  return (
    <Console.Provider value={ctx}>
      <header class="shell">
        <a class="brand" href={href(HOME)}>
          teamstack
        </a>
        <nav aria-label="Main">
          {visible
            .filter((r) => r.nav)
            .map((r) => (
              <a
                key={r.path}
                href={href(r.path)}
                aria-current={loc.path === r.path || loc.path.startsWith(`${r.path}/`) ? "page" : undefined}
              >
                {r.nav}
              </a>
            ))}
        </nav>
        <span class="who">
          <span class={`live live-${mode}`} title={`updates: ${mode}`}>
            {mode === "stream" ? "live" : mode}
          </span>{" "}
          Signed in as <strong>{session.member}</strong> · {session.team}
          {session.admin ? " · admin" : ""}
        </span>
        <button type="button" onClick={() => props.onSignOut()}>
          Sign out
        </button>
      </header>
      <main>
        {Page && found ? (
          <Page params={found.params} query={loc.query} />
        ) : loc.path === "/" ? null : (
          <ErrorBanner error={new Error(`no page at #${loc.path}`)} />
        )}
      </main>
    </Console.Provider>
  );
}
