import { type ApiClient, ApiError, createApiClient } from "../api/client.ts";
import type { Session } from "./context.ts";

/**
 * Signing in: the console's configuration, the token kept in sessionStorage (gone when the tab
 * closes), and who the token is for.
 */

/** GET /console/config.json (serve) or config.json beside the console (the CDK's bucket). */
export interface ConsoleConfig {
  readonly apiBase: string;
  readonly stream: boolean;
  readonly signIn: {
    readonly token: boolean;
    readonly oneTime: boolean;
    readonly oidc: null | { readonly issuer: string; readonly clientId: string; readonly scope: string };
  };
}

const DEFAULT_CONFIG: ConsoleConfig = {
  apiBase: "",
  stream: true,
  signIn: { token: true, oneTime: true, oidc: null },
};

const TOKEN_KEY = "teamstack.token";

/**
 * Reads the configuration where serve and the CDK's bucket keep it, else beside the page; none:
 * this page's origin serves the API.
 */
export async function loadConfig(): Promise<ConsoleConfig> {
  const read = async (url: string): Promise<Partial<ConsoleConfig> | undefined> => {
    try {
      const res = await fetch(url, { cache: "no-store" });
      if (!res.ok || !(res.headers.get("content-type") ?? "").includes("json")) return undefined;
      return (await res.json()) as Partial<ConsoleConfig>;
    } catch {
      return undefined;
    }
  };
  // serve answers /console/config.json, and the CDK's bucket holds it there too; config.json
  // beside the page is for a console copied to any other static host.
  const body = (await read("/console/config.json")) ?? (await read("config.json"));
  if (!body) return DEFAULT_CONFIG;
  return {
    ...DEFAULT_CONFIG,
    ...body,
    apiBase: (body.apiBase ?? "").replace(/\/+$/, ""),
    signIn: { ...DEFAULT_CONFIG.signIn, ...(body.signIn ?? {}) },
  };
}

export const storedToken = (): string | undefined => sessionStorage.getItem(TOKEN_KEY) ?? undefined;
export const storeToken = (token: string) => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** A JWT's claims, read (not verified: the API verifies every call) to name the caller at once. */
function claimsOf(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const json = atob(
      part
        .replace(/-/g, "+")
        .replace(/_/g, "/")
        .padEnd(Math.ceil(part.length / 4) * 4, "="),
    );
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Who a teamstack token is for, from its own claims (undefined: not a teamstack token, such as an
 * identity provider's whose claims are named otherwise: ask GET /whoami). Lets the first page
 * render without waiting for /whoami; the page's own calls verify the token.
 */
export function sessionFromToken(token: string): Session | undefined {
  const claims = claimsOf(token);
  const team = claims?.["teamstack:team"];
  const member = claims?.sub;
  if (typeof team !== "string" || typeof member !== "string") return undefined;
  return {
    team,
    member,
    admin: claims?.["teamstack:admin"] === true || claims?.["teamstack:admin"] === "true",
  };
}

/**
 * Who the token is for: GET /whoami, or (an API without it) the token's own claims, checked by a
 * call the token must be good for.
 * @throws ApiError when the API refuses the token.
 */
export async function whoami(api: ApiClient): Promise<Session> {
  try {
    const me = await api.get<Session>("/whoami");
    return { team: me.team, member: me.member, admin: me.admin === true };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  const session = sessionFromToken(api.token);
  if (!session)
    throw new ApiError(
      401,
      "Unauthorized",
      "the token names no team and member: paste one from `teamstack token`",
    );
  await api.get(
    `/teams/${encodeURIComponent(session.team)}/stacks?member=${encodeURIComponent(session.member)}`,
  );
  return session;
}

/** Trades a one-time sign-in code (the link `teamstack serve` prints) for a token. */
export async function redeemCode(config: ConsoleConfig, code: string): Promise<string> {
  const api = createApiClient(config.apiBase, "");
  const out = await api.post<{ token: string }>("/auth/one-time", { code });
  return out.token;
}
