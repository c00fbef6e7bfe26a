import { listCredentialViews } from "../credentials/team-credentials.ts";
import type { OutboundEventLog, TeamListing } from "../ports/store.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { ApiError, badRequest, forbidden, notFound } from "./errors.ts";
import type { Caller } from "./service.ts";

/**
 * What the web console asks of the API besides stacks and templates: who the caller is, the
 * team's members, credentials (names and field names, never values) and outbound events, the
 * console's own settings, and the one-time sign-in codes of `teamstack serve`.
 */

/** How the console signs in and where it finds the API (`GET /console/config.json`). */
export interface ConsoleConfig {
  /** The API's base URL; "" for the console's own origin. */
  readonly apiBase: string;
  /** Whether `GET /teams/{team}/stream` answers (teamstack serve); otherwise the console polls. */
  readonly stream: boolean;
  readonly signIn: {
    /** A pasted bearer token (`teamstack token`). */
    readonly token: boolean;
    /** One-time links (`POST /auth/one-time`). */
    readonly oneTime: boolean;
    readonly oidc: OidcSettings | null;
  };
}

/** The deployment's OpenID Connect provider, for the authorization code flow with PKCE. */
export interface OidcSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

/** A signed-in session, as POST /auth/one-time answers it. */
export interface OneTimeSession {
  readonly token: string;
  readonly team: string;
  readonly member: string;
  readonly admin: boolean;
  /** ISO time the token expires. */
  readonly expiresAt: string;
}

/** Trades a one-time code for a session; undefined when the code is unknown, used or expired. */
export interface OneTimeRedeemer {
  redeem(code: string): Promise<OneTimeSession | undefined>;
}

export interface ConsoleDeps {
  /** Members and credentials of a team, and the outbound events; absent: those routes answer 501. */
  readonly directory?: TeamListing & Pick<OutboundEventLog, "listOutboundEvents">;
  /** The console's settings; absent: a pasted token only, no stream. */
  readonly consoleConfig?: () => ConsoleConfig;
  /** One-time sign-in (teamstack serve); absent: POST /auth/one-time answers 404. */
  readonly oneTime?: OneTimeRedeemer;
}

/** The most events `GET /teams/{team}/events` returns, and its default. */
export const MAX_TEAM_EVENTS = 500;
export const DEFAULT_TEAM_EVENTS = 50;

/** Settings for a deployment that has none: a pasted token, polling. */
export const DEFAULT_CONSOLE_CONFIG: ConsoleConfig = {
  apiBase: "",
  stream: false,
  signIn: { token: true, oneTime: false, oidc: null },
};

/** The console's routes' work; authorisation as in StackService (same team; admins for the team's data). */
export class ConsoleService {
  readonly #d: ConsoleDeps;
  constructor(deps: ConsoleDeps) {
    this.#d = deps;
  }

  #admin(caller: Caller, team: string, what: string): void {
    if (caller.team !== team) throw forbidden(`your token is for team \`${caller.team}\`, not \`${team}\``);
    if (!caller.admin) throw forbidden(`${what} needs a team admin's token`);
  }

  get #directory(): NonNullable<ConsoleDeps["directory"]> {
    const d = this.#d.directory;
    if (!d) throw new ApiError(501, "NotImplemented", "team listings are not available in this deployment");
    return d;
  }

  whoami(caller: Caller) {
    return { team: caller.team, member: caller.member, admin: caller.admin };
  }

  async members(caller: Caller, team: string) {
    this.#admin(caller, team, "listing the team's members");
    const members = await this.#directory.listMembers(team);
    return {
      members: members.map((m) => ({
        member: m.member,
        data: { ...m.data },
        updatedAt: m.updatedAt,
        left: m.left !== undefined,
      })),
    };
  }

  async credentials(caller: Caller, team: string) {
    this.#admin(caller, team, "listing the team's credentials");
    return {
      // Names only, as the console shows them: not even a non-secret value (an account's id).
      credentials: (await listCredentialViews({ store: this.#directory, catalog: PROVIDERS }, team)).map(
        ({ values: _, ...listed }) => listed,
      ),
    };
  }

  /** The team's outbound events, newest first. */
  async events(caller: Caller, team: string, limitText: string | undefined) {
    this.#admin(caller, team, "reading the team's events");
    const limit = limitOf(limitText);
    const mine = (await this.#directory.listOutboundEvents(team)).reverse();
    return {
      events: mine.slice(0, limit).map((e) => ({
        id: e.id,
        type: e.detailType,
        at: e.time,
        detail: { ...e.detail },
      })),
    };
  }

  config(): ConsoleConfig {
    return this.#d.consoleConfig?.() ?? DEFAULT_CONSOLE_CONFIG;
  }

  async redeem(code: string): Promise<OneTimeSession> {
    const oneTime = this.#d.oneTime;
    if (!oneTime) throw notFound("one-time sign-in links are offered by `teamstack serve` only");
    const session = await oneTime.redeem(code);
    // One answer for unknown, used and expired codes: the answer tells a guesser nothing.
    if (!session) {
      throw new ApiError(
        401,
        "Unauthorized",
        "this sign-in link is unknown, used or expired (links work once, for 10 minutes): get a new one with `teamstack token --link`",
      );
    }
    return session;
  }
}

function limitOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TEAM_EVENTS;
  if (!/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > MAX_TEAM_EVENTS) {
    throw badRequest(`query \`limit\`: expected 1 to ${MAX_TEAM_EVENTS}, got \`${text.slice(0, 20)}\``);
  }
  return Number(text);
}
