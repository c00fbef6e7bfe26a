import { MAX_TEMPLATE_VERSION } from "../store/keys.ts";
import type { Schema } from "./json-schema.ts";
import type { RolloutRequest } from "./rollouts.ts";
// routes.ts lists these routes: Status is read when a route runs, long after both modules loaded.
import { type Route, Status } from "./routes.ts";
import * as S from "./schemas.ts";

/**
 * The rollout routes (src/api/rollouts.ts does the work), listed in the route table by routes.ts.
 * Kept here so that the table's other entries stay as they are.
 */

/** The most stacks in one wave, and the largest canary: a wave of updates is that many executions. */
export const MAX_ROLLOUT_WAVE = 1000;

const rolloutSchema: Schema = {
  type: "object",
  properties: {
    version: {
      type: "integer",
      minimum: 1,
      maximum: MAX_TEMPLATE_VERSION,
      description: "The template version every stack on an older one is updated to.",
    },
    canary: {
      type: "integer",
      minimum: 0,
      maximum: MAX_ROLLOUT_WAVE,
      description:
        "Stacks updated first, alone; any failure among them stops the rollout (default 1; 0: none).",
    },
    batch: {
      type: "integer",
      minimum: 1,
      maximum: MAX_ROLLOUT_WAVE,
      description: "Stacks per wave after the canary (default 5).",
    },
    max_failed_percent: {
      type: "integer",
      minimum: 0,
      maximum: 100,
      description:
        "The rollout stops after a wave once failed stacks are more than this percent of those attempted (default 0: any failure stops it).",
    },
  },
  required: ["version"],
  additionalProperties: false,
};

export const ROLLOUT_ROUTES: readonly Route[] = [
  {
    method: "POST",
    path: "/teams/{team}/templates/{name}/rollout",
    summary:
      "Updates every stack of the template on an older version to `version`, in waves: the canary, then batches; stops when failures pass `max_failed_percent`. 202 with the rollout; 200 with the running one when asked again. Admins only.",
    auth: true,
    body: rolloutSchema,
    bodyRequired: true,
    success: 202,
    errors: [400, 401, 403, 404, 409],
    response: S.ROLLOUT,
    run: async (s, c) => {
      const out = await s.rollouts.start(
        c.caller,
        c.params.team as string,
        c.params.name as string,
        c.body as RolloutRequest,
      );
      return out.status === 202 ? out.body : new Status(200, out.body);
    },
  },
  {
    method: "GET",
    path: "/teams/{team}/rollouts",
    summary: "The team's rollouts, newest first. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403],
    response: S.ROLLOUT_LIST,
    run: (s, c) => s.rollouts.list(c.caller, c.params.team as string),
  },
  {
    method: "GET",
    path: "/teams/{team}/rollouts/{id}",
    summary: "A rollout's progress, stack by stack. Admins only.",
    auth: true,
    success: 200,
    errors: [400, 401, 403, 404],
    response: S.ROLLOUT,
    run: (s, c) => s.rollouts.get(c.caller, c.params.team as string, c.params.id as string),
  },
];
