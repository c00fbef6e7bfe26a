import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { HttpClient } from "./http.ts";

/** Base URLs of the services the hooks call, without a trailing slash. */
export interface HookEndpoints {
  readonly github: string;
  readonly slack: string;
  readonly x: string;
}

export const DEFAULT_ENDPOINTS: HookEndpoints = {
  github: "https://api.github.com",
  slack: "https://slack.com/api",
  x: "https://api.x.com",
};

/** What a hook that calls a service gets besides its request. */
export interface HookContext {
  readonly endpoints: HookEndpoints;
  readonly http: HttpClient;
}

/**
 * One hook type that calls a service. Returns the SUCCEEDED result; every failure is thrown as a
 * HookError, which the runner turns into a FAILED result.
 */
export type ServiceHook = (context: HookContext, request: HookRequest) => Promise<HookResult>;
