import { HOOK_TEAM_SECRETS, TWEET_MAX } from "../core/capabilities.ts";
import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { HookContext } from "./context.ts";
import { requireSecrets, stringParam } from "./credentials.ts";
import { HookRequestError } from "./errors.ts";
import { excerpt, field, refused, type ServiceCall, type ServiceReply, send } from "./http.ts";
import { authorizationHeader } from "./oauth1.ts";

/** The team secrets send_tweet signs with: the app's consumer key pair and the account's token pair. */
export const X_SECRETS = HOOK_TEAM_SECRETS.send_tweet;

/**
 * `send_tweet`: posts `msg` with the X API v2 `POST /2/tweets`, signed with OAuth 1.0a user
 * context (HMAC-SHA1). The JSON body is not a signed parameter (only the `oauth_*` ones are, the
 * URL having no query), and every try is signed afresh so no nonce is sent twice.
 *
 * @example
 * ```yaml
 * post_hooks:
 *   - send_tweet: { msg: "provisioning complete" }
 * ```
 */
export async function sendTweet(context: HookContext, request: HookRequest): Promise<HookResult> {
  const text = stringParam(request, "msg");
  if (text === undefined) throw new HookRequestError("send_tweet needs `msg`; it is empty");
  // Validation checks the length once rendered where it can; a value known only now is checked here.
  if ([...text].length > TWEET_MAX) {
    throw new HookRequestError(
      `send_tweet \`msg\` is ${[...text].length} characters; X takes at most ${TWEET_MAX}`,
    );
  }
  const secrets = await requireSecrets(request, X_SECRETS, "send_tweet signs X API calls with");
  const credentials = {
    consumerKey: secrets.x_consumer_key,
    consumerSecret: secrets.x_consumer_secret,
    token: secrets.x_access_token,
    tokenSecret: secrets.x_access_token_secret,
  };
  const url = `${context.endpoints.x}/2/tweets`;
  const call: ServiceCall = {
    service: "X",
    method: "POST",
    url,
    trusted: true,
    headers: () => ({
      authorization: authorizationHeader({ method: "POST", url }, credentials),
      "content-type": "application/json",
    }),
    body: JSON.stringify({ text }),
  };
  const reply = await send(context.http, call);
  if (reply.status !== 201 && reply.status !== 200) throw refused(call, reply, xMessage(reply));
  const data = (reply.json as { data?: unknown } | undefined)?.data;
  const id = field(data, "id");
  return { status: "SUCCEEDED", output: `X: posted${id ? ` post ${id}` : ""}: ${text}` };
}

/** X's own words: a problem document's `detail` or `title`, or the first of `errors`. */
function xMessage(reply: ServiceReply): string {
  const detail = field(reply.json, "detail");
  const title = field(reply.json, "title");
  if (detail && title && detail !== title) return `${title}: ${detail}`;
  if (detail ?? title) return (detail ?? title) as string;
  const errors = (reply.json as { errors?: unknown } | undefined)?.errors;
  const first = Array.isArray(errors) ? errors[0] : undefined;
  return field(first, "detail") ?? field(first, "message") ?? excerpt(reply.text);
}
