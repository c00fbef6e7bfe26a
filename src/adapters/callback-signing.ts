import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The readiness callback, like cfn-signal: when user_data has finished, the instance POSTs its exit
 * code to `${base}/callbacks/ready/{team}/{stackId}/{server}/{attempt}?sig=...`. The signature binds
 * the URL to one server and creation attempt; the API accepts it once (the server's ready token is
 * consumed). An adapter shared by the providers whose readiness is `callback` (aws), which sign, and
 * the API, which verifies; no SDK here.
 */

export interface CallbackTarget {
  readonly team: string;
  readonly stackId: string;
  readonly server: string;
  readonly attempt: number;
}

/** The header the instance also sends the signature in (for a front door that drops query strings). */
export const CALLBACK_SIGNATURE_HEADER = "x-teamstack-signature";

/** HMAC-SHA256 of `team|stackId|server|attempt` under the deployment's callback secret, hex. */
export function callbackSignature(secret: Uint8Array, target: CallbackTarget): string {
  return createHmac("sha256", secret)
    .update(`${target.team}|${target.stackId}|${target.server}|${target.attempt}`)
    .digest("hex");
}

/** Whether `signature` is the one for `target`, compared in constant time. */
export function verifyCallbackSignature(
  secret: Uint8Array,
  target: CallbackTarget,
  signature: string,
): boolean {
  if (!/^[0-9a-f]{64}$/.test(signature)) return false;
  const expected = Buffer.from(callbackSignature(secret, target), "hex");
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

/** The path of a server's callback, without the signature. */
export function callbackPath(target: CallbackTarget): string {
  const parts = [target.team, target.stackId, target.server, String(target.attempt)];
  return `/callbacks/ready/${parts.map(encodeURIComponent).join("/")}`;
}

/** The full callback URL the instance POSTs to. */
export function callbackUrl(base: string, secret: Uint8Array, target: CallbackTarget): string {
  return `${base.replace(/\/+$/, "")}${callbackPath(target)}?sig=${callbackSignature(secret, target)}`;
}

/**
 * The attempt number in an idempotency token (`<stackId>.<server>.<attempt>`, as the pipeline makes
 * them); 1 for a token without one.
 */
export function attemptOfToken(token: string): number {
  const m = /\.(\d+)$/.exec(token);
  return m ? Number(m[1]) : 1;
}
