import { MAX_TEAM_EVENTS } from "./console.ts";
import { notFound } from "./errors.ts";
// routes.ts lists these routes: nothing of it is read while this module loads.
import type { Route } from "./routes.ts";
import * as S from "./schemas.ts";

/**
 * The routes the web console needs besides the stacks' and templates' (src/api/console.ts does
 * the work), listed in the route table by routes.ts. `GET /teams/{team}/stream` is declared here
 * for the OpenAPI document only: `teamstack serve` answers it (src/local/stream.ts) before the
 * router, which never serves it; the deployed console polls with If-None-Match.
 */

/**
 * Routes that `teamstack serve` answers without a token but the deployed API keeps behind its JWT
 * authorizer: the deployed console reads its config.json beside itself, and one-time links are
 * serve's alone (the Lambda answers 404).
 */
export const SERVE_ONLY_OPEN: readonly string[] = ["POST /auth/one-time", "GET /console/config.json"];

export const CONSOLE_ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/whoami",
    summary: "Who the token is for: team, member, and whether an admin. Any signed-in caller.",
    auth: true,
    success: 200,
    errors: [401],
    response: S.WHOAMI,
    run: async (s, c) => s.console.whoami(c.caller),
  },
  {
    method: "GET",
    path: "/teams/{team}/members",
    summary: "The team's members with their non-secret data. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 501],
    response: S.MEMBER_LIST,
    run: (s, c) => s.console.members(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/credentials",
    summary:
      "The team's credential references: names and the names of their fields, never values. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 501],
    response: S.CREDENTIAL_LIST,
    run: (s, c) => s.console.credentials(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/events",
    summary:
      "The team's outbound events (Stack Provisioned, Stack Failed, Rollout Finished, ...), newest first; `?limit=N` (default 50). Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 501],
    response: S.TEAM_EVENTS,
    query: [
      {
        name: "limit",
        schema: {
          type: "string",
          pattern: "^[1-9][0-9]{0,3}$",
          description: `How many, at most ${MAX_TEAM_EVENTS}.`,
        },
      },
    ],
    run: (s, c) => s.console.events(c.caller, c.params.team as string, c.query.limit),
  },
  {
    method: "POST",
    path: "/auth/one-time",
    summary:
      "Trades a one-time sign-in code (from the link `teamstack serve` and `teamstack token --link` print) for a bearer token. Each code works once, for 10 minutes. teamstack serve only.",
    auth: false,
    body: {
      type: "object",
      properties: { code: { type: "string", maxLength: 128, pattern: "^[A-Za-z0-9_-]+$" } },
      required: ["code"],
      additionalProperties: false,
    },
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 404],
    response: S.SESSION,
    run: (s, c) => s.console.redeem((c.body as { code: string }).code),
  },
  {
    method: "GET",
    path: "/teams/{team}/stream",
    summary:
      "Live updates of the team's stacks (and, for admins, rollouts) as server-sent events, authorised by the usual Authorization header. teamstack serve only (elsewhere 404: poll the GET routes with If-None-Match). 429 past 4 streams of one member.",
    auth: true,
    eventStream: true,
    success: 200,
    errors: [400, 401, 403, 404, 429],
    response: S.EVENT_STREAM,
    run: () => {
      throw notFound("live updates are streamed by `teamstack serve` only; poll with If-None-Match");
    },
  },
  {
    method: "GET",
    path: "/console/config.json",
    summary:
      "Where the console finds the API and how it signs in (the CDK app writes the same file beside the console).",
    auth: false,
    success: 200,
    errors: [],
    response: S.CONSOLE_CONFIG,
    run: async (s) => s.console.config(),
  },
];
