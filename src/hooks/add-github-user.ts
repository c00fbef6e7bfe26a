import { HOOK_TEAM_SECRETS } from "../core/capabilities.ts";
import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { HookContext } from "./context.ts";
import { requireSecrets, stringParam } from "./credentials.ts";
import { HookRequestError } from "./errors.ts";
import { excerpt, field, pathSegment, refused, type ServiceCall, type ServiceReply, send } from "./http.ts";

/**
 * `add_github_user`: adds (or invites) a member to an organization team through
 * `PUT /orgs/{org}/teams/{team_slug}/memberships/{username}`, with the team secret `github_token`
 * (a token that may administer the team). The call is idempotent, so retrying it is safe.
 *
 * @example
 * ```yaml
 * pre_hooks:
 *   - add_github_user: { org: koding, team_name: backend, user: $koding.userdata.github_username }
 * ```
 */
export async function addGithubUser(context: HookContext, request: HookRequest): Promise<HookResult> {
  const role = stringParam(request, "role") ?? "member";
  const { call, org, team, user } = await membershipCall(
    context,
    request,
    "PUT",
    "add_github_user uses to call the GitHub API",
    JSON.stringify({ role }),
  );
  const reply = await send(context.http, call);
  if (reply.status !== 200) throw refused(call, reply, githubMessage(reply));
  const state = field(reply.json, "state") ?? "unknown";
  const granted = field(reply.json, "role") ?? role;
  const invited = state === "pending" ? "; GitHub has invited them and they must accept" : "";
  return {
    status: "SUCCEEDED",
    output: `GitHub: ${user} is a ${granted} of ${org}/${team}, membership ${state}${invited}`,
  };
}

/**
 * The undo of `add_github_user`, run when the stack is destroyed: removes the member from the
 * organization team through `DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}`, with
 * the same params and token. Idempotent: GitHub's 404 (no such membership any more) counts as done,
 * so a rerun of destroy, or a member someone already removed, succeeds without a second removal.
 */
export async function removeGithubUser(context: HookContext, request: HookRequest): Promise<HookResult> {
  const { call, org, team, user } = await membershipCall(
    context,
    request,
    "DELETE",
    "removing the member from the GitHub team uses",
  );
  const reply = await send(context.http, call);
  if (reply.status === 404) {
    return {
      status: "SUCCEEDED",
      output: `GitHub: ${user} is not a member of ${org}/${team} (HTTP 404); nothing to remove`,
    };
  }
  if (reply.status !== 204 && reply.status !== 200) throw refused(call, reply, githubMessage(reply));
  return { status: "SUCCEEDED", output: `GitHub: removed ${user} from ${org}/${team}` };
}

/** The call on a team membership (`PUT` adds, `DELETE` removes), with the team's `github_token`. */
async function membershipCall(
  context: HookContext,
  request: HookRequest,
  method: "PUT" | "DELETE",
  usedFor: string,
  body?: string,
): Promise<{ call: ServiceCall; org: string; team: string; user: string }> {
  const org = required(request, "org");
  const team = required(request, "team_name");
  const user = required(request, "user");
  const { github_token: token } = await requireSecrets(request, HOOK_TEAM_SECRETS.add_github_user, usedFor);
  // Each value is one segment: a member cannot walk to another API path with the team's token.
  const path = `/orgs/${pathSegment("add_github_user", "org", org)}/teams/${pathSegment("add_github_user", "team_name", team)}/memberships/${pathSegment("add_github_user", "user", user)}`;
  const call: ServiceCall = {
    service: "GitHub",
    method,
    url: `${context.endpoints.github}${path}`,
    trusted: true,
    headers: {
      authorization: `Bearer ${token}`,
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: body ?? "",
    transient: rateLimited,
  };
  return { call, org, team, user };
}

function required(request: HookRequest, name: string): string {
  const value = stringParam(request, name);
  if (value === undefined) throw new HookRequestError(`add_github_user needs \`${name}\`; it is empty`);
  return value;
}

/**
 * GitHub answers a used-up rate limit with 403 (or 429) and either `retry-after` (secondary limits)
 * or `x-ratelimit-remaining: 0` (primary limit); any other 403 is a refusal.
 */
function rateLimited(reply: ServiceReply): boolean {
  return (
    reply.status === 403 &&
    (reply.headers.has("retry-after") || reply.headers.get("x-ratelimit-remaining") === "0")
  );
}

/** GitHub's own words: `message`, with the `errors` of a 422 when it lists them. */
function githubMessage(reply: ServiceReply): string {
  const message = field(reply.json, "message");
  if (message === undefined) return excerpt(reply.text);
  const errors = (reply.json as { errors?: unknown }).errors;
  const details = Array.isArray(errors)
    ? errors
        .map((e: unknown) =>
          typeof e === "string"
            ? e
            : (field(e, "message") ??
              [field(e, "resource"), field(e, "field"), field(e, "code")].filter(Boolean).join(" ")),
        )
        .filter(Boolean)
    : [];
  return details.length > 0 ? `${message} (${details.join("; ")})` : message;
}
