import { HOOK_TEAM_SECRETS } from "../core/capabilities.ts";
import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { HookContext } from "./context.ts";
import { requireSecrets, stringParam } from "./credentials.ts";
import { HookRequestError, HookServiceError } from "./errors.ts";
import { excerpt, field, refused, type ServiceCall, type ServiceReply, send } from "./http.ts";

/** Slack wants the charset named on JSON posts (it warns `missing_charset` otherwise). */
const JSON_UTF8 = "application/json; charset=utf-8";

/**
 * `slack_msg`: posts `msg` to Slack, through an incoming-webhook URL (`webhook_url`) when given,
 * else through the Web API's `chat.postMessage` to `channel` with the team secret `slack_token`
 * (a bot token with `chat:write`). A `webhook_url` is the template's, so it passes the egress
 * policy; the Web API endpoint is the operator's. The Web API answers HTTP 200 with `{ ok: false, error }` when
 * it refuses; that is a failure carrying Slack's error string, and `ratelimited` is retried.
 *
 * @example
 * ```yaml
 * post_hooks:
 *   - slack_msg: { channel: "#dev", msg: "$koding.userdata.name's stack is ready" }
 * ```
 */
export async function slackMsg(context: HookContext, request: HookRequest): Promise<HookResult> {
  const text = stringParam(request, "msg");
  if (text === undefined) throw new HookRequestError("slack_msg needs `msg`; it is empty");
  const webhookUrl = stringParam(request, "webhook_url");
  return webhookUrl !== undefined
    ? postToWebhook(context, webhookUrl, text)
    : postMessage(context, request, text);
}

async function postToWebhook(context: HookContext, url: string, text: string): Promise<HookResult> {
  const call: ServiceCall = {
    service: "Slack",
    method: "POST",
    url,
    urlName: "Slack webhook_url",
    headers: { "content-type": JSON_UTF8 },
    body: JSON.stringify({ text }),
  };
  const reply = await send(context.http, call);
  // Incoming webhooks answer 200 `ok`, or an error string (`invalid_payload`, `no_service`, ...).
  if (reply.status !== 200) throw refused(call, reply, excerpt(reply.text));
  return { status: "SUCCEEDED", output: "Slack: posted through the incoming webhook" };
}

async function postMessage(context: HookContext, request: HookRequest, text: string): Promise<HookResult> {
  const channel = stringParam(request, "channel");
  if (channel === undefined) {
    throw new HookRequestError("slack_msg needs `channel` unless `webhook_url` is given; both are empty");
  }
  const { slack_token: token } = await requireSecrets(
    request,
    HOOK_TEAM_SECRETS.slack_msg,
    "slack_msg uses to call chat.postMessage",
  );
  const call: ServiceCall = {
    service: "Slack",
    method: "POST",
    url: `${context.endpoints.slack}/chat.postMessage`,
    trusted: true,
    headers: { authorization: `Bearer ${token}`, "content-type": JSON_UTF8 },
    body: JSON.stringify({ channel, text }),
    transient: (reply) => reply.status === 200 && slackError(reply) === "ratelimited",
  };
  const reply = await send(context.http, call);
  if (reply.status !== 200) throw refused(call, reply, field(reply.json, "error") ?? excerpt(reply.text));
  const ok = (reply.json as { ok?: unknown } | undefined)?.ok;
  if (ok !== true) {
    const error = slackError(reply) ?? `an answer that is not Slack's JSON (${excerpt(reply.text, 200)})`;
    const tries = reply.attempts > 1 ? ` after ${reply.attempts} attempts` : "";
    throw new HookServiceError("Slack", `Slack chat.postMessage to ${channel} failed${tries}: ${error}`, {
      status: reply.status,
      attempts: reply.attempts,
      retryable: reply.transient,
    });
  }
  const id = field(reply.json, "channel");
  const ts = field(reply.json, "ts");
  return {
    status: "SUCCEEDED",
    output: `Slack: posted to ${channel}${id ? ` (${id})` : ""}${ts ? `, message ts ${ts}` : ""}`,
  };
}

function slackError(reply: ServiceReply): string | undefined {
  return field(reply.json, "error");
}
