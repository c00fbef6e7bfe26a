/**
 * The shapes of the API's answers the admin pages read: the types src/api/schemas.ts derives from
 * the schemas /openapi.json publishes (type-only imports: no server code reaches the bundle).
 */
import type {
  CredentialListBody,
  MemberListBody,
  PolicyBody,
  RolloutBody,
  RolloutListBody,
  TeamEventsBody,
  TemplateListBody,
  TemplateTextBody,
  TemplateVersionsBody,
} from "../../../src/api/schemas.ts";

export type TemplateSummary = TemplateListBody[number];
export type TemplateDetail = TemplateVersionsBody;
export type TemplateVersionInfo = TemplateDetail["versions"][number];
/** One version with its text: `GET /teams/{team}/templates/{name}?version=N`. */
export type TemplateText = TemplateTextBody;

export interface Published {
  readonly name: string;
  readonly version: number;
  readonly hash: string;
}

export const ROLLOUT_STACK_STATES = ["PENDING", "UPDATING", "SUCCEEDED", "FAILED", "SKIPPED"] as const;

export type RolloutSummary = RolloutListBody[number];
export type RolloutView = RolloutBody;
export type RolloutStack = RolloutView["stacks"][number];

export interface RolloutRequest {
  readonly version: number;
  readonly canary?: number;
  readonly batch?: number;
  readonly max_failed_percent?: number;
}

export type Member = MemberListBody["members"][number];
/** Field names only: the API never sends a credential's values. */
export type Credential = CredentialListBody["credentials"][number];
export type TeamEvent = TeamEventsBody["events"][number];
export type PolicyView = PolicyBody;

export const ON_MEMBER_LEFT = ["destroy", "stop", "keep"] as const;
