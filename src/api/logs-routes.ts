import { badRequest } from "./errors.ts";
import type { Schema } from "./json-schema.ts";
import type { Route, RouteContext } from "./routes.ts";
import * as S from "./schemas.ts";
import { EXEC_MAX_TIMEOUT_SECONDS, type ExecRequest, type LogQuery } from "./server-access.ts";

/**
 * The routes of servers' logs and exec (src/api/server-access.ts does the work), listed in the
 * route table by routes.ts.
 */

const logQuery = [
  {
    name: "after",
    schema: {
      type: "integer",
      minimum: 0,
      description: "Byte offset: the text after it (default 0).",
    } as Schema,
  },
  {
    name: "attempt",
    schema: { type: "integer", minimum: 1, description: "Which attempt (default: the newest)." } as Schema,
  },
];

function whole(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > 2 ** 31) {
    throw badRequest(`query \`${name}\`: expected a whole number from ${min}, got \`${value.slice(0, 20)}\``);
  }
  return Number(value);
}

function logQueryOf(query: RouteContext["query"]): LogQuery {
  const attempt = whole("attempt", query.attempt, 1);
  const after = whole("after", query.after, 0);
  return { ...(attempt !== undefined ? { attempt } : {}), ...(after !== undefined ? { after } : {}) };
}

const execSchema: Schema = {
  type: "object",
  properties: {
    command: {
      type: "array",
      items: { type: "string", maxLength: 8192 },
      maxItems: 256,
      description: 'The program and its arguments, run as they are (no shell): ["cat", "/etc/config"].',
    },
    timeoutSeconds: {
      type: "integer",
      minimum: 1,
      maximum: EXEC_MAX_TIMEOUT_SECONDS,
      description: "How long it may run (default 30); then it is killed and the exit code is 124.",
    },
  },
  required: ["command"],
  additionalProperties: false,
};

export const LOGS_ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}/servers/{server}/logs",
    summary:
      "A server's log: the kept, masked output of its user_data and on_start, attempt by attempt, from a byte offset (poll with `after=next` until `complete`). Members on their own stacks, admins on the team's.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404, 501],
    query: logQuery,
    response: S.SERVER_LOG,
    run: (s, c) =>
      s.logs(
        c.caller,
        c.params.team as string,
        c.params.id as string,
        c.params.server as string,
        logQueryOf(c.query),
      ),
  },
  {
    method: "GET",
    path: "/teams/{team}/stacks/{id}/hooks/{hook}/logs",
    summary:
      "A hook's log (`{hook}` is PHASE.INDEX, such as post.1): the output of each of its runs that printed (run_script), as a server's log.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404, 501],
    query: logQuery,
    response: S.HOOK_LOG,
    run: (s, c) =>
      s.hookLogs(
        c.caller,
        c.params.team as string,
        c.params.id as string,
        c.params.hook as string,
        logQueryOf(c.query),
      ),
  },
  {
    method: "POST",
    path: "/teams/{team}/stacks/{id}/servers/{server}/exec",
    summary:
      "Runs a command on a server (local: in its sandbox; aws: SSM Run Command) and answers its exit code and output (masked). Members on their own stacks' servers, admins on the team's. 409 when the server is not running.",
    auth: true,
    body: execSchema,
    bodyRequired: true,
    success: 200,
    errors: [400, 401, 403, 404, 409, 501],
    response: S.EXEC_RESULT,
    run: (s, c) =>
      s.exec(
        c.caller,
        c.params.team as string,
        c.params.id as string,
        c.params.server as string,
        c.body as ExecRequest,
      ),
  },
];
