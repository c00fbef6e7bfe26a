import { createHmac, randomUUID } from "node:crypto";
import { HOOK_TEAM_SECRETS } from "../core/capabilities.ts";
import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { HookContext } from "./context.ts";
import { stringParam } from "./credentials.ts";
import { HookRequestError, MissingSecretError } from "./errors.ts";
import { excerpt, field, origin, refused, type ServiceCall, type ServiceReply, send } from "./http.ts";

/** The team secret that signs webhook bodies unless the hook names another. */
export const DEFAULT_WEBHOOK_SECRET = HOOK_TEAM_SECRETS.webhook[0];

/**
 * The signature header value: `sha256=` and the hex HMAC-SHA256, keyed by the team secret, of the
 * timestamp header's value, `.`, and the exact body bytes. Receivers recompute it, compare in
 * constant time and reject stale timestamps.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * `webhook`: POSTs JSON to `url` for everything else. The body is `body` (rendered) or, without
 * one, `{ event: "teamstack.hook", team, stackId, member, phase, index }`. Headers: `headers`,
 * then `Content-Type: application/json`, `X-Teamstack-Delivery` (one id per hook run, the same on
 * every try, for de-duplication), `X-Teamstack-Timestamp` (Unix seconds) and
 * `X-Teamstack-Signature` (see webhookSignature) when the team secret named by `secret` (default
 * `webhook_secret`) is set. Without the default secret the body goes unsigned and the output says
 * so; a secret the hook names explicitly must exist. `headers` may not set Host, Content-Type, the
 * X-Teamstack-* headers or a hop-by-hop or framing header (the hook fails, naming it); `url` passes
 * the egress policy, and a redirect is not followed.
 *
 * @example
 * ```yaml
 * post_hooks:
 *   - webhook:
 *       url: https://ci.example.com/hooks/teamstack
 *       body: { member: $koding.userdata.name, db: $koding.artifact.mysql.IP }
 * ```
 */
export async function webhook(context: HookContext, request: HookRequest): Promise<HookResult> {
  const url = stringParam(request, "url");
  if (url === undefined) throw new HookRequestError("webhook needs `url`; it is empty");
  const body = JSON.stringify(request.params.body ?? defaultBody(request));
  const named = stringParam(request, "secret");
  const secretName = named ?? DEFAULT_WEBHOOK_SECRET;
  const secret = (await request.teamSecret(secretName)) || undefined;
  if (secret === undefined && named !== undefined) {
    throw new MissingSecretError(request.team, [secretName], "this webhook names to sign its body", true);
  }
  const delivery = randomUUID();
  const call: ServiceCall = {
    service: "webhook",
    method: "POST",
    url,
    urlName: "webhook URL",
    templateHeaders: headersParam(request.params.headers),
    headers: () => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const ours: [string, string][] = [
        ["content-type", "application/json"],
        ["x-teamstack-delivery", delivery],
        ["x-teamstack-timestamp", timestamp],
      ];
      if (secret !== undefined) {
        ours.push(["x-teamstack-signature", webhookSignature(secret, timestamp, body)]);
      }
      return ours;
    },
    body,
  };
  const reply = await send(context.http, call);
  if (reply.status < 200 || reply.status > 299) throw refused(call, reply, receiverMessage(reply));
  const unsigned =
    secret === undefined
      ? `\nunsigned: team \`${request.team}\` has no secret \`${secretName}\`; set it with \`teamstack secrets set --team ${request.team} ${secretName}\` to sign deliveries`
      : "";
  const answer = reply.text ? `\n${reply.text}${reply.truncated ? "\n[answer truncated]" : ""}` : "";
  return {
    status: "SUCCEEDED",
    output: `webhook: POST ${origin(url)} answered HTTP ${reply.status} (delivery ${delivery})${unsigned}${answer}`,
  };
}

function defaultBody(request: HookRequest): Record<string, unknown> {
  return {
    event: "teamstack.hook",
    team: request.team,
    stackId: request.stackId,
    member: request.member,
    phase: request.phase,
    index: request.index,
  };
}

function headersParam(value: unknown): [string, string][] {
  if (value === undefined || value === null) return [];
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new HookRequestError("webhook `headers` must be a map of header names to values");
  }
  return Object.entries(value).map(([k, v]) => [k, String(v)]);
}

/** The receiver's own words: a JSON `message` or `error`, else the start of its answer. */
function receiverMessage(reply: ServiceReply): string {
  return field(reply.json, "message") ?? field(reply.json, "error") ?? excerpt(reply.text);
}
