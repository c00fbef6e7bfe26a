import { createHmac, randomBytes } from "node:crypto";

/**
 * OAuth 1.0a request signing (RFC 5849), HMAC-SHA1, for X API user-context calls.
 *
 * Only the query string, a form-encoded body and the `oauth_*` protocol parameters are signed
 * (RFC 5849 section 3.4.1.3.1). A JSON body, such as `POST /2/tweets` sends, is not a parameter
 * source and is not part of the signature base string; X's v2 API signs it the same way.
 */

/** The four credentials of an OAuth 1.0a user-context call. */
export interface OAuth1Credentials {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly token: string;
  readonly tokenSecret: string;
}

/** A name/value pair; names may repeat, so pairs rather than a record. */
export type OAuth1Param = readonly [name: string, value: string];

export interface OAuth1Request {
  readonly method: string;
  /** The full request URL; its query parameters are signed. */
  readonly url: string | URL;
  /** Parameters of an `application/x-www-form-urlencoded` body (never a JSON body). */
  readonly formParams?: readonly OAuth1Param[];
}

/** Fixed nonce and timestamp, for reproducing a published example; random and now otherwise. */
export interface OAuth1Options {
  readonly nonce?: string;
  readonly timestamp?: number | string;
}

/**
 * Percent-encodes a value as RFC 5849 section 3.6 requires: UTF-8, then every octet except the
 * RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) as `%XX` with upper-case hex.
 */
export function percentEncode(value: string): string {
  // encodeURIComponent leaves `! ' ( ) *` alone, which RFC 3986 counts as reserved.
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The base string URI (RFC 5849 section 3.4.1.2): scheme and host in lower case, the port only
 * when it is not the scheme's default, the path as sent, no query or fragment.
 */
export function baseStringUri(url: string | URL): string {
  // The WHATWG URL parser lower-cases scheme and host and drops a default port.
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Normalizes parameters (RFC 5849 section 3.4.1.3.2): each name and value percent-encoded,
 * sorted by encoded name then encoded value (byte order), joined as `name=value` with `&`.
 */
export function normalizeParameters(params: readonly OAuth1Param[]): string {
  const encoded = params.map(([k, v]) => [percentEncode(k), percentEncode(v)] as const);
  encoded.sort(([ak, av], [bk, bv]) => compareBytes(ak, bk) || compareBytes(av, bv));
  return encoded.map(([k, v]) => `${k}=${v}`).join("&");
}

/** Encoded strings are ASCII, so code-unit order is byte order. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The parameters signed for a request: its query (form-decoded), its form body, then `extra`. */
export function collectParameters(request: OAuth1Request, extra: readonly OAuth1Param[]): OAuth1Param[] {
  const query = [...new URL(request.url).searchParams.entries()];
  return [...query, ...(request.formParams ?? []), ...extra];
}

/**
 * The signature base string (RFC 5849 section 3.4.1.1): the upper-case method, the encoded base
 * string URI and the encoded normalized parameters, joined with `&`.
 */
export function signatureBaseString(
  method: string,
  url: string | URL,
  params: readonly OAuth1Param[],
): string {
  return [
    method.toUpperCase(),
    percentEncode(baseStringUri(url)),
    percentEncode(normalizeParameters(params)),
  ].join("&");
}

/** The HMAC-SHA1 key (RFC 5849 section 3.4.2): encoded consumer secret `&` encoded token secret. */
export function signingKey(consumerSecret: string, tokenSecret: string): string {
  return `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
}

/** Base64 of HMAC-SHA1(key, base string): the `oauth_signature` value before encoding. */
export function hmacSha1(key: string, baseString: string): string {
  return createHmac("sha1", key).update(baseString).digest("base64");
}

/** The `oauth_*` protocol parameters (without the signature) for one request. */
export function protocolParameters(
  credentials: OAuth1Credentials,
  options: OAuth1Options = {},
): OAuth1Param[] {
  return [
    ["oauth_consumer_key", credentials.consumerKey],
    ["oauth_nonce", options.nonce ?? randomBytes(16).toString("hex")],
    ["oauth_signature_method", "HMAC-SHA1"],
    ["oauth_timestamp", String(options.timestamp ?? Math.floor(Date.now() / 1000))],
    ["oauth_token", credentials.token],
    ["oauth_version", "1.0"],
  ];
}

/** Signs a request; returns the signature and the protocol parameters it covers. */
export function sign(
  request: OAuth1Request,
  credentials: OAuth1Credentials,
  options: OAuth1Options = {},
): { readonly signature: string; readonly oauth: OAuth1Param[]; readonly baseString: string } {
  const oauth = protocolParameters(credentials, options);
  const baseString = signatureBaseString(request.method, request.url, collectParameters(request, oauth));
  const signature = hmacSha1(signingKey(credentials.consumerSecret, credentials.tokenSecret), baseString);
  return { signature, oauth, baseString };
}

/**
 * The `Authorization: OAuth ...` header value (RFC 5849 section 3.5.1) for a request: the
 * protocol parameters and the signature, each value percent-encoded and quoted, sorted by name.
 */
export function authorizationHeader(
  request: OAuth1Request,
  credentials: OAuth1Credentials,
  options: OAuth1Options = {},
): string {
  const { signature, oauth } = sign(request, credentials, options);
  const fields = [...oauth, ["oauth_signature", signature] as const].sort(([a], [b]) => compareBytes(a, b));
  return `OAuth ${fields.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(", ")}`;
}

/**
 * Parses an `Authorization: OAuth ...` header into its decoded parameters (a `realm` included).
 * @throws Error when the header is not an OAuth header.
 */
export function parseAuthorizationHeader(header: string): Record<string, string> {
  const m = /^OAuth\s+(.*)$/is.exec(header.trim());
  // The header itself is not repeated: it may carry a credential.
  if (!m?.[1]) throw new Error("not an OAuth Authorization header: it does not start with `OAuth `");
  const out: Record<string, string> = Object.create(null);
  for (const part of m[1].split(",")) {
    const field = /^\s*([^=\s]+)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (!field?.[1] || field[2] === undefined)
      throw new Error('malformed OAuth header: a parameter is not name="value"');
    out[decodeURIComponent(field[1])] = decodeURIComponent(field[2]);
  }
  return out;
}
