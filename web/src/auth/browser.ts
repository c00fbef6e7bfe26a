import { beginSignIn, completeSignIn, isCallback, type OidcSession } from "./oidc.ts";

/**
 * The OpenID Connect sign-in as the console page runs it: the pending flow in sessionStorage (gone
 * with the tab), the console's own URL as the redirect URI, the provider's answer taken off the
 * address bar once read. The sign-in page calls {@link startOidcSignIn}; the app calls
 * {@link finishOidcSignIn} once at start and keeps the session's token like any other.
 */

/** The deployment's provider, as config.json gives it (`signIn.oidc`). */
export interface OidcSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

/** The URL the provider sends the user back to: the console's origin and path, no query or hash. */
export function redirectUri(): string {
  return `${location.origin}${location.pathname}`;
}

/** Leaves for the provider's sign-in page. @throws OidcError when its settings cannot be read. */
export async function startOidcSignIn(settings: OidcSettings): Promise<void> {
  const url = await beginSignIn({ ...settings, redirectUri: redirectUri() }, sessionStorage);
  location.assign(url);
}

/**
 * When the page is the provider's answer, completes the sign-in and returns the session (its
 * `token` is the API's bearer); otherwise undefined. The code and state leave the address bar
 * either way, so a reload or a shared link cannot reuse them.
 * @throws OidcError saying what did not fit.
 */
export async function finishOidcSignIn(): Promise<OidcSession | undefined> {
  if (!isCallback(location.href)) return undefined;
  const answer = location.href;
  history.replaceState(null, "", `${redirectUri()}#/`);
  return completeSignIn(answer, sessionStorage);
}
