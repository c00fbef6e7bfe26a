import { type Plan, plan, serverDependencies } from "./graph.ts";
import type { HookSpec, ProviderName, Template } from "./template.ts";

/** The plan of a template: what `teamstack plan --format json` prints. */
export interface TemplatePlan {
  readonly servers: ReadonlyArray<{
    readonly name: string;
    readonly provider: ProviderName;
    readonly type: string;
    readonly dependsOn: readonly string[];
  }>;
  /** A topological order: every server after the servers it waits for. */
  readonly order: readonly string[];
  /** Servers grouped by how many waits stand before them; each level can start together. */
  readonly levels: readonly (readonly string[])[];
  /** The longest chain of waits: the stack takes at least this long. */
  readonly criticalPath: readonly string[];
  readonly preHooks: readonly Record<string, unknown>[];
  readonly postHooks: readonly Record<string, unknown>[];
  /** Present when the template has destroy_hooks. */
  readonly destroyHooks?: readonly Record<string, unknown>[];
}

/**
 * Plans a validated template: dependencies (references and depends_on), order, levels and the
 * critical path. `loadTemplate` answers the same plan, computed while it validates; this is for a
 * template that did not come from it.
 * @throws GraphError when the template has a cycle (validation reports it first).
 */
export function planTemplate(template: Template): TemplatePlan {
  return templatePlanOf(
    template,
    plan(template.servers.map((s) => ({ name: s.name, dependsOn: serverDependencies(s) }))),
  );
}

/** The template plan of a template whose server graph is planned already. */
export function templatePlanOf(template: Template, graph: Plan): TemplatePlan {
  return {
    servers: template.servers.map((s) => ({
      name: s.name,
      provider: s.provider,
      type: s.type,
      dependsOn: graph.dependsOn.get(s.name) ?? [],
    })),
    order: graph.order,
    levels: graph.levels,
    criticalPath: graph.criticalPath,
    preHooks: template.preHooks.map(hookView),
    postHooks: template.postHooks.map(hookView),
    ...(template.destroyHooks?.length ? { destroyHooks: template.destroyHooks.map(hookView) } : {}),
  };
}

function hookView(hook: HookSpec): Record<string, unknown> {
  return {
    type: hook.type,
    ...hook.params,
    ...(hook.continueOnError ? { continue_on_error: true } : {}),
    ...(hook.undo === false ? { undo: false } : {}),
  };
}
