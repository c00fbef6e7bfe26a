/**
 * Signing in to the deployed console with the deployment's OpenID Connect provider: the
 * authorization code flow with PKCE (RFC 7636, S256), for a public client in the browser. No
 * dependency: Web Crypto, fetch and URL only (so it runs in the browser and, for tests, in Node).
 *
 * The ID token it ends with is the API's bearer token: API Gateway's JWT authorizer verifies its
 * signature, issuer and audience (the console's client id is one of the deployment's audiences,
 * infra/config.ts). The checks here (state, nonce, issuer, audience, expiry) keep a forged or
 * replayed answer from signing the console in; its signature is the authorizer's to check.
 */

/** The console's OpenID Connect settings, from config.json, and where the provider sends the user back. */
export interface OidcClient {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
  /** The console's URL registered with the provider (its origin and path, no hash). */
  readonly redirectUri: string;
}

/** What the flow keeps between leaving for the provider and coming back (sessionStorage). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** The parts of the provider's discovery document the flow uses. */
export interface Discovery {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly code_challenge_methods_supported?: readonly string[];
}

/** A signed-in session: the ID token as the API's bearer, and what it says. */
export interface OidcSession {
  readonly token: string;
  /** ISO time the token expires. */
  readonly expiresAt: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Signing in failed: what went wrong, in words to show the user. */
export class OidcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OidcError";
  }
}

/** Where the pending sign-in is kept while the user is at the provider. */
export const PENDING_KEY = "teamstack.oidc.pending";
/** A pending sign-in older than this is not completed. */
export const PENDING_TTL_MS = 10 * 60 * 1000;

interface Pending {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly createdAt: number;
}

/** Fills a byte array with random values (crypto.getRandomValues); tests pass a fixed one. */
export type RandomSource = (bytes: Uint8Array<ArrayBuffer>) => Uint8Array;
const secureRandom: RandomSource = (bytes) => crypto.getRandomValues(bytes);

function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** A PKCE code verifier: 32 random bytes, base64url (43 characters, RFC 7636 section 4.1). */
export function codeVerifier(random: RandomSource = secureRandom): string {
  return base64url(random(new Uint8Array(32)));
}

/** The S256 code challenge of a verifier: BASE64URL(SHA256(ASCII(verifier))). */
export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function checkIssuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new OidcError(`the issuer \`${issuer}\` is not a URL`);
  }
  const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new OidcError(`the issuer \`${issuer}\` must be an https URL`);
  }
  return url;
}

/**
 * Reads the provider's discovery document (`ISSUER/.well-known/openid-configuration`) and checks
 * that it is the issuer's and offers what the flow needs.
 * @throws OidcError when it cannot be read or does not fit.
 */
export async function discover(issuer: string, fetchFn: Fetch = fetch): Promise<Discovery> {
  checkIssuerUrl(issuer);
  const where = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: Partial<Discovery>;
  try {
    const res = await fetchFn(where, { headers: { accept: "application/json" } });
    if (!res.ok) throw new OidcError(`the identity provider answered ${res.status} at ${where}`);
    doc = (await res.json()) as Partial<Discovery>;
  } catch (error) {
    if (error instanceof OidcError) throw error;
    throw new OidcError(
      `cannot read the identity provider's settings at ${where}: ${(error as Error).message}`,
    );
  }
  if (doc.issuer !== issuer) {
    throw new OidcError(
      `the discovery document is for issuer \`${String(doc.issuer)}\`, expected \`${issuer}\``,
    );
  }
  for (const key of ["authorization_endpoint", "token_endpoint"] as const) {
    if (typeof doc[key] !== "string") throw new OidcError(`the discovery document has no \`${key}\``);
    checkIssuerUrl(doc[key]);
  }
  const methods = doc.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes("S256")) {
    throw new OidcError(
      `the identity provider does not offer PKCE with S256 (it offers ${methods.join(", ")})`,
    );
  }
  return doc as Discovery;
}

/**
 * Starts signing in: keeps a fresh state, nonce and code verifier in `storage` and returns the
 * provider's authorization URL to send the browser to.
 */
export async function beginSignIn(
  client: OidcClient,
  storage: KeyValueStorage,
  options: { readonly fetch?: Fetch; readonly random?: RandomSource; readonly now?: () => number } = {},
): Promise<string> {
  const random = options.random ?? secureRandom;
  const discovery = await discover(client.issuer, options.fetch);
  const pending: Pending = {
    state: codeVerifier(random),
    nonce: codeVerifier(random),
    verifier: codeVerifier(random),
    issuer: client.issuer,
    clientId: client.clientId,
    redirectUri: client.redirectUri,
    createdAt: (options.now ?? Date.now)(),
  };
  storage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.clientId);
  url.searchParams.set("redirect_uri", client.redirectUri);
  url.searchParams.set("scope", client.scope);
  url.searchParams.set("state", pending.state);
  url.searchParams.set("nonce", pending.nonce);
  url.searchParams.set("code_challenge", await codeChallenge(pending.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url.toString();
}

/** Whether a URL is the provider sending the user back (a `code` or an `error`, with `state`). */
export function isCallback(url: string): boolean {
  const params = new URL(url).searchParams;
  return params.has("state") && (params.has("code") || params.has("error"));
}

/**
 * Completes signing in on the redirect URI: checks the state, trades the code and the verifier
 * for tokens at the token endpoint, checks the ID token's nonce, issuer, audience and expiry, and
 * returns it as the session. The pending sign-in is used up whatever the outcome.
 * @throws OidcError saying what did not fit.
 */
export async function completeSignIn(
  callbackUrl: string,
  storage: KeyValueStorage,
  options: { readonly fetch?: Fetch; readonly now?: () => number } = {},
): Promise<OidcSession> {
  const now = (options.now ?? Date.now)();
  const text = storage.getItem(PENDING_KEY);
  storage.removeItem(PENDING_KEY);
  const params = new URL(callbackUrl).searchParams;
  if (params.has("error")) {
    const detail = params.get("error_description");
    throw new OidcError(
      `the identity provider refused: ${params.get("error")}${detail ? ` (${detail})` : ""}`,
    );
  }
  let pending: Pending | undefined;
  try {
    pending = text ? (JSON.parse(text) as Pending) : undefined;
  } catch {
    pending = undefined;
  }
  if (!pending) throw new OidcError("no sign-in was started in this tab: start again");
  if (now - pending.createdAt > PENDING_TTL_MS) throw new OidcError("the sign-in took too long: start again");
  if (params.get("state") !== pending.state) {
    throw new OidcError("the answer's state does not match the sign-in started here: start again");
  }
  const code = params.get("code");
  if (!code) throw new OidcError("the identity provider sent no code");
  const discovery = await discover(pending.issuer, options.fetch);
  const fetchFn = options.fetch ?? fetch;
  let tokens: { id_token?: unknown; error?: unknown; error_description?: unknown };
  try {
    const res = await fetchFn(discovery.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: pending.redirectUri,
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }).toString(),
    });
    tokens = (await res.json()) as typeof tokens;
    if (!res.ok) {
      throw new OidcError(
        `the token endpoint answered ${res.status}${typeof tokens.error === "string" ? `: ${tokens.error}` : ""}${typeof tokens.error_description === "string" ? ` (${tokens.error_description})` : ""}`,
      );
    }
  } catch (error) {
    if (error instanceof OidcError) throw error;
    throw new OidcError(`cannot reach the token endpoint: ${(error as Error).message}`);
  }
  if (typeof tokens.id_token !== "string") throw new OidcError("the token endpoint sent no id_token");
  const claims = idTokenClaims(tokens.id_token);
  if (claims.iss !== pending.issuer) {
    throw new OidcError(
      `the ID token is from issuer \`${String(claims.iss)}\`, expected \`${pending.issuer}\``,
    );
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(pending.clientId)) {
    throw new OidcError(`the ID token is not for this console (audience ${JSON.stringify(claims.aud)})`);
  }
  if (claims.nonce !== pending.nonce) throw new OidcError("the ID token's nonce does not match: start again");
  if (typeof claims.exp !== "number" || claims.exp * 1000 <= now)
    throw new OidcError("the ID token has expired");
  return { token: tokens.id_token, expiresAt: new Date(claims.exp * 1000).toISOString(), claims };
}

/** The claims of a JWT, unverified (the API's authorizer verifies it). @throws OidcError */
export function idTokenClaims(token: string): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new OidcError("the ID token is not a JWT");
  try {
    const json = new TextDecoder().decode(fromBase64url(parts[1] as string));
    const claims = JSON.parse(json) as unknown;
    if (claims === null || typeof claims !== "object" || Array.isArray(claims))
      throw new Error("not an object");
    return claims as Record<string, unknown>;
  } catch {
    throw new OidcError("the ID token's claims cannot be read");
  }
}
