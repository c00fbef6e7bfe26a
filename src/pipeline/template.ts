import { formatProblem } from "../core/errors.ts";
import type { TemplatePlan } from "../core/plan.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import { userdataKeys } from "../core/render.ts";
import type { Template } from "../core/template.ts";
import { loadTemplate } from "../core/validate.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { StackRecord } from "../ports/store.ts";
import { TemplateInvalidError } from "./errors.ts";

/**
 * The stack's template, parsed: for Prepare (which compiles it onto the run's records) and the
 * API. No other task imports this module: they read their compiled records, and their bundles
 * carry no YAML parser (a test checks).
 */

/** A stack's template and its plan. */
export interface LoadedTemplate {
  readonly template: Template;
  readonly plan: TemplatePlan;
}

/** Validated templates (with their plans) by catalog and hash: parsed once per process, not once per call. */
const templates = new WeakMap<ProviderCatalog, Map<string, LoadedTemplate>>();

/**
 * The stack's template, parsed and validated against `catalog`, with the plan validation computed.
 * @throws TemplateInvalidError when it no longer validates.
 */
export function loadStackTemplate(stack: StackRecord, catalog: ProviderCatalog): LoadedTemplate {
  let cache = templates.get(catalog);
  if (!cache) {
    cache = new Map();
    templates.set(catalog, cache);
  }
  const cached = cache.get(stack.templateHash);
  if (cached) return cached;
  const { template, plan, problems } = loadTemplate(stack.templateYaml, stack.templateFile, catalog);
  if (!template || !plan) {
    throw new TemplateInvalidError(
      `the stack's template is invalid:\n${problems.slice(0, 20).map(formatProblem).join("\n")}`,
    );
  }
  if (cache.size > 50) cache.clear();
  const loaded = { template, plan };
  cache.set(stack.templateHash, loaded);
  return loaded;
}

/**
 * The stack's template, parsed and validated against `catalog`.
 * @throws TemplateInvalidError when it no longer validates.
 */
export function stackTemplate(stack: StackRecord, catalog: ProviderCatalog): Template {
  return loadStackTemplate(stack, catalog).template;
}

/**
 * The `$koding.userdata.*` keys a template uses that neither the given data nor the member's
 * secrets provide (a secret's existence is checked, never its value read).
 */
export async function missingUserdata(
  template: Template,
  given: Readonly<Record<string, string>>,
  secrets: Secrets | undefined,
  scope: { readonly team: string; readonly member: string },
): Promise<string[]> {
  const unset = userdataKeys(template).filter((k) => !Object.hasOwn(given, k));
  const isSecret = await Promise.all(unset.map((k) => (secrets ? secrets.exists(scope, k) : false)));
  return unset.filter((_, i) => !isSecret[i]);
}
