import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OneTimeRedeemer, OneTimeSession } from "../api/console.ts";
import { signJwt } from "../api/jwt.ts";

/**
 * One-time sign-in links of `teamstack serve`: `http://HOST:PORT/#/signin?code=CODE`. A code is 32
 * random bytes; only its sha256 is kept, as the name of a file under the state directory holding
 * whom it signs in and until when. Redeeming deletes that file: the one unlink that succeeds wins,
 * so a code works once even with two processes (`teamstack token --link` mints, `serve` redeems).
 * Codes are never logged; a redeemed code gives a bearer token of {@link SESSION_HOURS} hours.
 */

/** How long a code can be used. */
export const ONE_TIME_TTL_MS = 10 * 60 * 1000;
/** The lifetime of the token a code is traded for. */
export const SESSION_HOURS = 12;
const CODE = /^[A-Za-z0-9_-]{43}$/;

export interface OneTimeGrant {
  readonly team: string;
  readonly member: string;
  readonly admin: boolean;
}

export function oneTimeDir(stateDir: string): string {
  return join(stateDir, "api", "one-time");
}

const hashOf = (code: string) => createHash("sha256").update(code).digest("hex");

/** The console path that signs in with a code, to put after the server's URL. */
export function signInPath(code: string): string {
  return `/#/signin?code=${code}`;
}

/**
 * Makes a code for `grant`, usable once within {@link ONE_TIME_TTL_MS}; removes expired ones.
 * Returns the code: show it to the one it is for, and nowhere else.
 */
export async function mintOneTimeCode(
  stateDir: string,
  grant: OneTimeGrant,
  now = new Date(),
): Promise<string> {
  const dir = oneTimeDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await removeExpired(dir, now);
  const code = randomBytes(32).toString("base64url");
  const record = {
    team: grant.team,
    member: grant.member,
    admin: grant.admin,
    expiresAt: new Date(now.getTime() + ONE_TIME_TTL_MS).toISOString(),
  };
  await writeFile(join(dir, `${hashOf(code)}.json`), `${JSON.stringify(record)}\n`, {
    mode: 0o600,
    flag: "wx",
  });
  return code;
}

/**
 * Uses up a code: whom it signs in, or undefined when it is malformed, unknown, used or expired
 * (one outcome for all, so an answer tells a guesser nothing).
 */
export async function redeemOneTimeCode(
  stateDir: string,
  code: string,
  now = new Date(),
): Promise<OneTimeGrant | undefined> {
  if (!CODE.test(code)) return undefined;
  const file = join(oneTimeDir(stateDir), `${hashOf(code)}.json`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
    await unlink(file);
  } catch (error) {
    // Unknown, or another request used it between the read and the unlink.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const record = parseRecord(text);
  if (!record || Date.parse(record.expiresAt) <= now.getTime()) return undefined;
  return { team: record.team, member: record.member, admin: record.admin };
}

function parseRecord(text: string): (OneTimeGrant & { expiresAt: string }) | undefined {
  try {
    const r = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof r.team === "string" &&
      typeof r.member === "string" &&
      typeof r.admin === "boolean" &&
      typeof r.expiresAt === "string"
    ) {
      return { team: r.team, member: r.member, admin: r.admin, expiresAt: r.expiresAt };
    }
  } catch {
    // A damaged file signs nobody in.
  }
  return undefined;
}

async function removeExpired(dir: string, now: Date): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
    const file = join(dir, name);
    try {
      const record = parseRecord(await readFile(file, "utf8"));
      if (!record || Date.parse(record.expiresAt) <= now.getTime()) await unlink(file);
    } catch {
      // Redeemed meanwhile.
    }
  }
}

/** The redeemer `teamstack serve` answers POST /auth/one-time with: a code for a signed token. */
export function oneTimeRedeemer(
  stateDir: string,
  key: Buffer,
  now: () => Date = () => new Date(),
): OneTimeRedeemer {
  return {
    async redeem(code): Promise<OneTimeSession | undefined> {
      const at = now();
      const grant = await redeemOneTimeCode(stateDir, code, at);
      if (!grant) return undefined;
      const iat = Math.floor(at.getTime() / 1000);
      const exp = iat + SESSION_HOURS * 3600;
      const token = signJwt(
        { sub: grant.member, "teamstack:team": grant.team, "teamstack:admin": grant.admin, iat, exp },
        key,
      );
      return { token, ...grant, expiresAt: new Date(exp * 1000).toISOString() };
    },
  };
}
