import { type Problem, sortProblems } from "./errors.ts";
import { type TemplatePlan, templatePlanOf } from "./plan.ts";
import type { ProviderCatalog } from "./providers.ts";
import { DEFAULT_SETTINGS, type ServerSpec, type Template } from "./template.ts";
import { ValidationContext } from "./validate/context.ts";
import { decode } from "./validate/decode.ts";
import { describe } from "./validate/hints.ts";
import { hooksOf } from "./validate/hooks.ts";
import { checkGraph, checkReferences } from "./validate/references.ts";
import { serversOf } from "./validate/servers.ts";
import { settingsOf, TOP_KEYS, varsOf } from "./validate/structure.ts";
import { parseYamlTree } from "./yaml-tree.ts";

/**
 * Reading and validating a stack template. The work is split along its seams under validate/:
 * decoding the source (decode.ts), the structure (structure.ts, servers.ts, hooks.ts with the
 * hook table's rules), values against their kinds (values.ts), references and the dependency
 * graph (references.ts), and the wording of hints (hints.ts).
 */

export { MAX_TEMPLATE_BYTES, tooLarge } from "./validate/decode.ts";
export { toPlain } from "./validate/values.ts";

export interface LoadResult {
  /** The template, when it has no problems. */
  readonly template: Template | undefined;
  /** Its plan (dependencies, order, levels, critical path), computed while validating; with the template. */
  readonly plan: TemplatePlan | undefined;
  /** Every problem, sorted by position. */
  readonly problems: readonly Problem[];
  /**
   * What is worth saying that is not a problem (a provider's alias used), once each, in document
   * order; absent when there is nothing to say.
   */
  readonly notes?: readonly Problem[];
}

/**
 * Reads and validates a stack template: YAML safety, structure, types, names, providers (against
 * `providers`, the catalog of the providers this deployment knows), hooks, references and the
 * dependency graph. Collects every problem rather than stopping at the first. A valid template
 * comes with its plan, so that nothing plans it again.
 */
export function loadTemplate(
  source: string | Uint8Array,
  file: string,
  providers: ProviderCatalog,
): LoadResult {
  const decoded = decode(source);
  if (typeof decoded !== "string") {
    return { template: undefined, plan: undefined, problems: [{ file, ...decoded }] };
  }
  const ctx = new ValidationContext(decoded, file, providers);
  const checked = check(ctx);
  const problems = sortProblems(ctx.problems);
  const notes = ctx.notes.length > 0 ? { notes: [...ctx.notes] } : {};
  if (problems.length > 0 || !checked?.plan)
    return { template: undefined, plan: undefined, problems, ...notes };
  return {
    template: checked.template,
    plan: templatePlanOf(checked.template, checked.plan),
    problems,
    ...notes,
  };
}

function check(ctx: ValidationContext) {
  const { root, problems } = parseYamlTree(ctx.text);
  for (const p of problems) ctx.at(p.offset, p.message);
  if (problems.length > 0) return undefined;
  if (root === undefined || (root.kind === "scalar" && root.value === null)) {
    ctx.at(0, "template is empty; expected a mapping with at least `servers:`");
    return undefined;
  }
  if (root.kind !== "map") {
    ctx.at(root.start, `expected a mapping with \`servers:\` at the top, found ${describe(root)}`);
    return undefined;
  }
  const top = ctx.fields(root, "template", TOP_KEYS);
  const vars = top.vars ? varsOf(ctx, top.vars) : {};
  const settings = top.settings ? settingsOf(ctx, top.settings) : DEFAULT_SETTINGS;
  // Servers first: hooks check their targets against the server names.
  let servers: ServerSpec[] = [];
  if (!top.servers) ctx.at(root.start, "missing `servers`: a template needs at least one server");
  else {
    const autoStop =
      top.settings?.kind === "map"
        ? top.settings.entries.find((e) => e.key.value === "auto_stop")?.value
        : undefined;
    // auto_stop asks every server's provider to stop it: checked at each server.
    servers = serversOf(
      ctx,
      top.servers,
      settings.autoStopSeconds !== undefined && autoStop ? { autoStop } : {},
    );
  }
  const preHooks = top.pre_hooks ? hooksOf(ctx, top.pre_hooks, "pre") : [];
  const postHooks = top.post_hooks ? hooksOf(ctx, top.post_hooks, "post") : [];
  const destroyHooks = top.destroy_hooks ? hooksOf(ctx, top.destroy_hooks, "destroy") : [];
  checkReferences(ctx);
  const plan = checkGraph(ctx, servers);
  const template: Template = {
    vars,
    settings,
    preHooks,
    servers,
    postHooks,
    ...(destroyHooks.length > 0 ? { destroyHooks } : {}),
  };
  return { template, plan };
}
