import { formatProblem } from "../core/errors.ts";
import { planTemplate, type TemplatePlan } from "../core/plan.ts";
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

/** Parsed templates by hash: a template is parsed once per process, not once per call. */
const templates = new Map<string, LoadedTemplate>();

/**
 * The stack's template, parsed and validated, with its plan.
 * @throws TemplateInvalidError when it no longer validates.
 */
export function loadStackTemplate(stack: StackRecord): LoadedTemplate {
  const cached = templates.get(stack.templateHash);
  if (cached) return cached;
  const { template, problems } = loadTemplate(stack.templateYaml, stack.templateFile);
  if (!template) {
    throw new TemplateInvalidError(
      `the stack's template is invalid:\n${problems.slice(0, 20).map(formatProblem).join("\n")}`,
    );
  }
  if (templates.size > 50) templates.clear();
  const loaded = { template, plan: planTemplate(template) };
  templates.set(stack.templateHash, loaded);
  return loaded;
}

/**
 * The stack's template, parsed and validated.
 * @throws TemplateInvalidError when it no longer validates.
 */
export function stackTemplate(stack: StackRecord): Template {
  return loadStackTemplate(stack).template;
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
