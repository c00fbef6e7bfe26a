/** The shapes of the API's answers the admin pages read (see src/api/routes.ts and rollout-routes.ts). */

export interface TemplateSummary {
  readonly name: string;
  readonly latest: number;
  readonly hash: string;
  readonly updatedAt: string;
  readonly default: boolean;
  readonly defaultVersion?: number;
}

export interface TemplateVersionInfo {
  readonly version: number;
  readonly hash: string;
  readonly author: string;
  readonly createdAt: string;
}

export interface TemplateDetail {
  readonly name: string;
  readonly defaultVersion?: number;
  readonly versions: readonly TemplateVersionInfo[];
}

/** One version with its text: `GET /teams/{team}/templates/{name}?version=N`. */
export interface TemplateText extends TemplateVersionInfo {
  readonly name: string;
  readonly yaml: string;
}

export interface Published {
  readonly name: string;
  readonly version: number;
  readonly hash: string;
}

export const ROLLOUT_STACK_STATES = ["PENDING", "UPDATING", "SUCCEEDED", "FAILED", "SKIPPED"] as const;

export interface RolloutStack {
  readonly stackId: string;
  readonly member: string;
  readonly wave: number;
  readonly canary: boolean;
  readonly fromVersion: number;
  readonly state: string;
  readonly execution?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly error?: string;
}

export interface RolloutSummary {
  readonly rolloutId: string;
  readonly template: string;
  readonly version: number;
  readonly canary: number;
  readonly batch: number;
  readonly max_failed_percent: number;
  /** RUNNING, SUCCEEDED or STOPPED. */
  readonly state: string;
  readonly total: number;
  readonly createdBy?: string;
  readonly createdAt?: string;
  readonly finishedAt?: string;
  readonly reason?: string;
}

export interface RolloutView extends RolloutSummary {
  readonly counts: Readonly<Record<string, number>>;
  readonly stacks: readonly RolloutStack[];
}

export interface RolloutRequest {
  readonly version: number;
  readonly canary?: number;
  readonly batch?: number;
  readonly max_failed_percent?: number;
}

export interface Member {
  readonly member: string;
  readonly data: Readonly<Record<string, string>>;
  readonly updatedAt: string;
  readonly left: boolean;
}

export interface Credential {
  readonly name: string;
  readonly provider: string;
  /** Field names only: the API never sends a credential's values. */
  readonly fields: readonly string[];
  readonly updatedAt: string;
}

export interface TeamEvent {
  readonly id: string;
  readonly type: string;
  readonly at: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface PolicyView {
  readonly team: string;
  readonly providers: readonly string[];
  readonly default: boolean;
  readonly onMemberLeft?: string;
  readonly updatedAt?: string;
  readonly updatedBy?: string;
  readonly offered: readonly string[];
  readonly usable: { readonly admins: readonly string[]; readonly members: readonly string[] };
}

export const ON_MEMBER_LEFT = ["destroy", "stop", "keep"] as const;
