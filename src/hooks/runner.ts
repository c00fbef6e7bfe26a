import { createMasker } from "../core/mask.ts";
import type { HookType } from "../core/template.ts";
import type { HookRequest, HookResult, HookRunner } from "../ports/hook.ts";
import { addGithubUser, removeGithubUser } from "./add-github-user.ts";
import { DEFAULT_ENDPOINTS, type HookContext, type HookEndpoints, type ServiceHook } from "./context.ts";
import { createEgressPolicy, parseEgressAllow, type Resolve, systemResolve } from "./egress.ts";
import { HookError, MissingSecretError } from "./errors.ts";
import { type FetchLike, type HttpClient, REQUEST_TIMEOUT_MS, type Sleep, sleep } from "./http.ts";
import { MAX_SCRIPT_OUTPUT, type RunScriptDeps, runScript } from "./run-script.ts";
import { sendTweet } from "./send-tweet.ts";
import { slackMsg } from "./slack-msg.ts";
import { webhook } from "./webhook.ts";

export { DEFAULT_ENDPOINTS, type HookEndpoints } from "./context.ts";
export { MAX_SCRIPT_OUTPUT };

/**
 * Characters of output kept from a hook that calls a service (a webhook's answer is part of it).
 * The answer is masked whole before it is cut, so the cut cannot leave part of a secret.
 */
export const MAX_SERVICE_OUTPUT = 16 * 1024;
const TRUNCATED = `\n[output truncated at ${MAX_SERVICE_OUTPUT} characters]`;

export interface HookRunnerDeps extends RunScriptDeps {
  /** Base URLs of GitHub, Slack's Web API and the X API; the real ones by default. */
  readonly endpoints?: Partial<HookEndpoints>;
  /**
   * TEAMSTACK_EGRESS_ALLOW: address ranges template-steered requests may reach although the
   * egress policy refuses them by default (`127.0.0.1/32,10.20.0.0/16`). Empty: none.
   */
  readonly egressAllow?: string;
  /** Resolves host names for template-steered requests; the system resolver by default. */
  readonly resolve?: Resolve;
  /**
   * A stand-in for the network, for tests that must send nothing: every call goes to it and
   * nothing connects. Never set in a deployment.
   */
  readonly fetch?: FetchLike;
  /** Waits between tries; tests record the waits instead. */
  readonly sleep?: Sleep;
  /** Per-request timeout in ms (default 10 s). */
  readonly timeoutMs?: number;
}

const SERVICE_HOOKS: Record<Exclude<HookType, "run_script">, ServiceHook> = {
  add_github_user: addGithubUser,
  slack_msg: slackMsg,
  send_tweet: sendTweet,
  webhook,
};

/** The undo of each undoable hook type (src/core/undo.ts, UNDOABLE_HOOKS), run at destroy. */
const UNDO_HOOKS: Partial<Record<HookType, ServiceHook>> = {
  add_github_user: removeGithubUser,
};

/**
 * The Hook port's adapter. `run_script` runs on the target server through its provider; the other
 * types call their service with the team's secrets, read at the last moment. A refusal, a missing
 * secret or a service still failing after its tries comes back as a FAILED result (retryable when
 * a later try may pass) carrying the service's own words; secret values are masked as `***` in
 * every output and message. Requests a template steers (a webhook's `url`, Slack's `webhook_url`)
 * pass the egress policy (see `createEgressPolicy`); the configured endpoints are trusted.
 * @throws HookError when an endpoint is not an http(s) URL.
 * @throws EgressConfigError when `egressAllow` has a bad entry.
 */
export function createHookRunner(deps: HookRunnerDeps): HookRunner {
  const resolved = endpoints(deps.endpoints);
  const http: Omit<HttpClient, "mask"> = {
    egress: createEgressPolicy(parseEgressAllow(deps.egressAllow)),
    resolve: deps.resolve ?? systemResolve,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    sleep: deps.sleep ?? sleep,
    timeoutMs: deps.timeoutMs ?? REQUEST_TIMEOUT_MS,
    random: Math.random,
  };
  return {
    async run(request: HookRequest): Promise<HookResult> {
      const undo = request.phase === "undo";
      if (undo && !UNDO_HOOKS[request.type])
        return { status: "SKIPPED", message: `${request.type} has nothing to undo` };
      if (request.type === "run_script") return runScript(deps, request);
      const used: string[] = [];
      // Every answer is masked as soon as it is read, with the secrets read by then (all of them:
      // each hook reads its secrets before it sends).
      const context: HookContext = {
        endpoints: resolved,
        http: { ...http, mask: (text) => createMasker(used)(text) },
      };
      const tracked: HookRequest = {
        ...request,
        teamSecret: async (name) => {
          const value = await request.teamSecret(name);
          if (value) used.push(value);
          return value;
        },
      };
      try {
        const hook = undo ? (UNDO_HOOKS[request.type] as ServiceHook) : SERVICE_HOOKS[request.type];
        return masked(await hook(context, tracked), used);
      } catch (error) {
        if (!(error instanceof HookError)) throw error;
        // A service the team has not configured at all is skipped, saying how to configure it, so
        // a template runs before its team has every credential. Half a configuration (some of X's
        // four keys), or a webhook naming its signing secret (`secret:`), fails.
        // An undo is never skipped for a missing token: what the hook did would stay in place.
        if (error instanceof MissingSecretError && !error.explicit && !undo) {
          return { status: "SKIPPED", message: error.message };
        }
        return masked({ status: "FAILED", message: error.message, retryable: error.retryable }, used);
      }
    },
  };
}

function endpoints(given: Partial<HookEndpoints> = {}): HookEndpoints {
  const out: Record<string, string> = {};
  for (const [name, fallback] of Object.entries(DEFAULT_ENDPOINTS)) {
    const value = given[name as keyof HookEndpoints] ?? fallback;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== "https:" && url?.protocol !== "http:") {
      throw new HookError(`the ${name} endpoint \`${value}\` is not an http(s) URL`);
    }
    out[name] = value.replace(/\/+$/, "");
  }
  return out as unknown as HookEndpoints;
}

/**
 * Masks every secret value the hook read, wherever a service echoed it, then bounds the output to
 * MAX_SERVICE_OUTPUT characters. Every encoded form of a secret is masked too (see `secretForms`).
 */
function masked(result: HookResult, secrets: readonly string[]): HookResult {
  const mask = createMasker(secrets);
  const output = result.output === undefined ? undefined : bounded(mask(result.output));
  return {
    ...result,
    ...(output !== undefined ? { output } : {}),
    ...(result.message !== undefined ? { message: mask(result.message) } : {}),
  };
}

function bounded(output: string): string {
  return output.length <= MAX_SERVICE_OUTPUT
    ? output
    : `${output.slice(0, MAX_SERVICE_OUTPUT - TRUNCATED.length)}${TRUNCATED}`;
}
