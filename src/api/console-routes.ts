import { MAX_TEAM_EVENTS } from "./console.ts";
import type { Schema } from "./json-schema.ts";
// routes.ts lists these routes: nothing of it is read while this module loads.
import type { Route } from "./routes.ts";

/**
 * The routes the web console needs besides the stacks' and templates' (src/api/console.ts does
 * the work), listed in the route table by routes.ts. `GET /teams/{team}/stream` is not here: only
 * `teamstack serve` streams (src/local/stream.ts); the deployed console polls with If-None-Match.
 */

const str: Schema = { type: "string" };

const whoami: Schema = {
  type: "object",
  properties: {
    team: str,
    member: str,
    admin: { type: "boolean", description: "Whether the token is a team admin's." },
  },
  required: ["team", "member", "admin"],
  additionalProperties: false,
};

const members: Schema = {
  type: "object",
  properties: {
    members: {
      type: "array",
      items: {
        type: "object",
        properties: {
          member: str,
          data: {
            type: "object",
            additionalProperties: str,
            description: "The member's non-secret data ($koding.userdata.*); secrets are never here.",
          },
          updatedAt: str,
          left: { type: "boolean", description: "A Team Member Left event came for them." },
        },
        required: ["member", "data", "updatedAt", "left"],
        additionalProperties: false,
      },
    },
  },
  required: ["members"],
  additionalProperties: false,
};

const credentials: Schema = {
  type: "object",
  properties: {
    credentials: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: str,
          provider: { type: "string", description: "The provider that uses it (aws)." },
          fields: {
            type: "array",
            items: str,
            description: "The names of the fields set; their values are never answered.",
          },
          updatedAt: str,
        },
        required: ["name", "provider", "fields", "updatedAt"],
        additionalProperties: false,
      },
    },
  },
  required: ["credentials"],
  additionalProperties: false,
};

const events: Schema = {
  type: "object",
  properties: {
    events: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: str,
          type: {
            type: "string",
            description: "The event's detail-type: Stack Provisioned, Stack Failed, ...",
          },
          at: { type: "string", description: "ISO 8601." },
          detail: {
            type: "object",
            additionalProperties: { description: "Any JSON value." },
            description: "The event's detail: team, stackId, member, ... (no secret is ever in it).",
          },
        },
        required: ["id", "type", "at", "detail"],
        additionalProperties: false,
      },
    },
  },
  required: ["events"],
  additionalProperties: false,
};

const session: Schema = {
  type: "object",
  properties: {
    token: { type: "string", description: "A bearer token for the API." },
    team: str,
    member: str,
    admin: { type: "boolean" },
    expiresAt: { type: "string", description: "When the token expires (ISO 8601)." },
  },
  required: ["token", "team", "member", "admin", "expiresAt"],
  additionalProperties: false,
};

const consoleConfig: Schema = {
  type: "object",
  properties: {
    apiBase: { type: "string", description: "The API's base URL; empty: the console's own origin." },
    stream: {
      type: "boolean",
      description: "Whether GET /teams/{team}/stream answers; otherwise poll with If-None-Match.",
    },
    signIn: {
      type: "object",
      properties: {
        token: { type: "boolean", description: "A pasted bearer token (`teamstack token`)." },
        oneTime: { type: "boolean", description: "One-time links (POST /auth/one-time)." },
        oidc: {
          oneOf: [
            {
              type: "object",
              properties: { issuer: str, clientId: str, scope: str },
              required: ["issuer", "clientId", "scope"],
              additionalProperties: false,
            },
            { description: "null: no OpenID Connect provider." },
          ],
          description:
            "The OpenID Connect provider to sign in with (authorization code flow with PKCE), or null.",
        },
      },
      required: ["token", "oneTime", "oidc"],
      additionalProperties: false,
    },
  },
  required: ["apiBase", "stream", "signIn"],
  additionalProperties: false,
};

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
    response: whoami,
    run: async (s, c) => s.console.whoami(c.caller),
  },
  {
    method: "GET",
    path: "/teams/{team}/members",
    summary: "The team's members with their non-secret data. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 501],
    response: members,
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
    response: credentials,
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
    response: events,
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
    response: session,
    run: (s, c) => s.console.redeem((c.body as { code: string }).code),
  },
  {
    method: "GET",
    path: "/console/config.json",
    summary:
      "Where the console finds the API and how it signs in (the CDK app writes the same file beside the console).",
    auth: false,
    success: 200,
    errors: [],
    response: consoleConfig,
    run: async (s) => s.console.config(),
  },
];
