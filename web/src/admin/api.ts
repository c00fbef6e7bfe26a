import { type ApiClient, seg } from "../api/client.ts";
import type {
  Credential,
  Member,
  PolicyView,
  Published,
  RolloutRequest,
  RolloutSummary,
  RolloutView,
  TeamEvent,
  TemplateDetail,
  TemplateSummary,
  TemplateText,
} from "./types.ts";

/** The API paths and calls the admin pages use, typed (the console's client does the HTTP). */

const team = (t: string) => `/teams/${seg(t)}`;

export const paths = {
  templates: (t: string) => `${team(t)}/templates`,
  template: (t: string, name: string) => `${team(t)}/templates/${seg(name)}`,
  templateVersion: (t: string, name: string, version: number) =>
    `${team(t)}/templates/${seg(name)}?version=${version}`,
  rollouts: (t: string) => `${team(t)}/rollouts`,
  rollout: (t: string, id: string) => `${team(t)}/rollouts/${seg(id)}`,
  outdatedStacks: (t: string) => `${team(t)}/stacks?outdated=true`,
  members: (t: string) => `${team(t)}/members`,
  credentials: (t: string) => `${team(t)}/credentials`,
  policy: (t: string) => `${team(t)}/policy`,
  events: (t: string, limit = 100) => `${team(t)}/events?limit=${limit}`,
} as const;

export const getTemplates = (api: ApiClient, t: string) => api.get<TemplateSummary[]>(paths.templates(t));
export const getTemplate = (api: ApiClient, t: string, name: string) =>
  api.get<TemplateDetail>(paths.template(t, name));
export const getTemplateText = (api: ApiClient, t: string, name: string, version: number) =>
  api.get<TemplateText>(paths.templateVersion(t, name, version));

/** Publishes a version (the YAML as the body); the same text again answers with the version it is. */
export const publishTemplate = (api: ApiClient, t: string, name: string, yaml: string) =>
  api.put<Published>(paths.template(t, name), yaml);

export const setDefaultTemplate = (api: ApiClient, t: string, name: string, version: number) =>
  api.post<{ name: string; version: number }>(`${paths.template(t, name)}/default`, { version });

export const startRollout = (api: ApiClient, t: string, name: string, req: RolloutRequest) =>
  api.post<RolloutView>(`${paths.template(t, name)}/rollout`, req);

export const getRollouts = (api: ApiClient, t: string) => api.get<RolloutSummary[]>(paths.rollouts(t));

export const setMemberData = (
  api: ApiClient,
  t: string,
  member: string,
  data: Readonly<Record<string, string>>,
) => api.put<{ member: string; data: Record<string, string> }>(`${team(t)}/members/${seg(member)}`, data);

export const setPolicy = (
  api: ApiClient,
  t: string,
  body: { providers: readonly string[]; on_member_left?: string },
) => api.put<PolicyView>(paths.policy(t), body);

/**
 * Registers (or replaces) a team's credential: `provider` and that provider's fields. The answer
 * names the fields; it never carries a secret one's value.
 */
export const putCredential = (
  api: ApiClient,
  t: string,
  name: string,
  body: Readonly<Record<string, string>>,
) =>
  api.put<{ name: string; provider: string; fields: string[] }>(`${paths.credentials(t)}/${seg(name)}`, body);

export const removeCredential = (api: ApiClient, t: string, name: string) =>
  api.del<{ name: string; removed: boolean }>(`${paths.credentials(t)}/${seg(name)}`);

export type { Credential, Member, TeamEvent };
