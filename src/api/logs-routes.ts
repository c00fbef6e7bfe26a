import { LOG_LIMIT_BYTES, LOG_PAGE_BYTES } from "../ports/server-logs.ts";
import { badRequest } from "./errors.ts";
import type { Schema } from "./json-schema.ts";
import type { Route, RouteContext } from "./routes.ts";
import {
  EXEC_MAX_OUTPUT_BYTES,
  EXEC_MAX_TIMEOUT_SECONDS,
  type ExecRequest,
  type LogQuery,
} from "./server-access.ts";

/**
 * The routes of servers' logs and exec (src/api/server-access.ts does the work), listed in the
 * route table by routes.ts.
 */

const pageProperties: Record<string, Schema> = {
  attempt: {
    type: "integer",
    description: "The attempt this text is of (1 is the first; 0: the log has no attempt yet).",
  },
  attempts: { type: "integer", description: "How many attempts the log has." },
  offset: {
    type: "integer",
    description: "The byte offset into the attempt's kept, masked text where `text` starts.",
  },
  next: { type: "integer", description: "The byte offset after `text`: ask again with `after=next`." },
  text: { type: "string", description: `The text, at most ${LOG_PAGE_BYTES} bytes of it, masked.` },
  complete: {
    type: "boolean",
    description: "The attempt has ended and `next` is the end of its text: no more will come.",
  },
  truncated: {
    type: "boolean",
    description: "Part of the attempt's output was cut to keep it within `limitBytes`.",
  },
  limitBytes: {
    type: "integer",
    description: `The most an attempt keeps (${LOG_LIMIT_BYTES}): its first bytes as they come, then, when it ends, a line saying how much was cut and its last 64 KiB.`,
  },
  kind: { type: "string", description: "What the attempt ran: user_data, on_start or hook." },
  exitCode: { type: "integer", description: "The attempt's exit code, once it has ended (when known)." },
};
const pageRequired = ["attempt", "attempts", "offset", "next", "text", "complete", "truncated", "limitBytes"];

const serverLogSchema: Schema = {
  type: "object",
  properties: { server: { type: "string" }, ...pageProperties },
  required: ["server", ...pageRequired],
};

const hookLogSchema: Schema = {
  type: "object",
  properties: { hook: { type: "string", description: "PHASE:INDEX, such as post:1." }, ...pageProperties },
  required: ["hook", ...pageRequired],
};

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
    response: serverLogSchema,
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
    response: hookLogSchema,
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
    response: {
      type: "object",
      properties: {
        exitCode: { type: "integer", description: "The command's exit code (124: killed at its timeout)." },
        output: { type: "string", description: "stdout and stderr together, masked." },
        truncated: { type: "boolean", description: `The output was cut at ${EXEC_MAX_OUTPUT_BYTES} bytes.` },
      },
      required: ["exitCode", "output", "truncated"],
    },
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
