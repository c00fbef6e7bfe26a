import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * HS256 JSON Web Tokens for the local server. In AWS, API Gateway's JWT authorizer verifies the
 * identity provider's tokens and the handler reads the claims it passes on; locally
 * `teamstack serve` does the verifying itself with a key kept under the state directory.
 */

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

export function signJwt(claims: Record<string, unknown>, key: Buffer): string {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", key).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/**
 * The token's claims when its signature and times check out; otherwise why not. `exp` is
 * required and must be a number (seconds since the epoch); `nbf`, when present, too.
 */
export function verifyJwt(
  token: string,
  key: Buffer,
  now = Date.now(),
): { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string } {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: "the token is not a JWT" };
  const [head, body, sig] = parts as [string, string, string];
  let header: unknown;
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(head, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "the token is not a JWT" };
  }
  if ((header as { alg?: unknown })?.alg !== "HS256")
    return { ok: false, reason: "the token is not signed with HS256" };
  const want = createHmac("sha256", key).update(`${head}.${body}`).digest();
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want))
    return { ok: false, reason: "the token's signature is wrong" };
  if (claims === null || typeof claims !== "object" || Array.isArray(claims))
    return { ok: false, reason: "the token has no claims" };
  const c = claims as Record<string, unknown>;
  // A token that never expires is refused: a leaked one would work for ever.
  if (!Object.hasOwn(c, "exp")) return { ok: false, reason: "the token has no expiry (`exp`)" };
  if (typeof c.exp !== "number" || !Number.isFinite(c.exp))
    return { ok: false, reason: "the token's expiry (`exp`) is not a number of seconds" };
  if (c.exp * 1000 < now) return { ok: false, reason: "the token has expired" };
  if (Object.hasOwn(c, "nbf") && (typeof c.nbf !== "number" || !Number.isFinite(c.nbf)))
    return { ok: false, reason: "the token's `nbf` is not a number of seconds" };
  if (typeof c.nbf === "number" && c.nbf * 1000 > now)
    return { ok: false, reason: "the token is not valid yet" };
  return { ok: true, claims: c };
}

/** The state directory's signing key, made once (32 random bytes, mode 0600). */
export async function signingKey(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    await writeFile(file, key, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readFile(file);
    throw error;
  }
  await chmod(file, 0o600);
  return key;
}
