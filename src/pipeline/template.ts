import { hookSecretNames } from "../core/capabilities.ts";
import { type CompiledStack, compileStack } from "../core/compile.ts";
import { formatProblem, type Problem } from "../core/errors.ts";
import type { TemplatePlan } from "../core/plan.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import { userdataKeys } from "../core/render.ts";
import type { HookSpec, Template } from "../core/template.ts";
import { loadTemplate } from "../core/validate.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { StackRecord, TemplateCatalog } from "../ports/store.ts";
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

/** The team secrets a hook uses: those of its type, and the one a webhook signs with. */
export function hookSecrets(hook: HookSpec): string[] {
  return hookSecretNames(hook.type, hook.params);
}

/** Compiles a stack's template (with the plan its validation made) and the stack's non-secret context. */
export function compileStackRecord(stack: StackRecord, catalog: ProviderCatalog): CompiledStack {
  const { template, plan } = loadStackTemplate(stack, catalog);
  return compileStack(
    template,
    plan,
    { team: stack.team, stackId: stack.stackId, member: stack.member, userdata: stack.userdata },
    { hookSecrets },
  );
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

/** The stack as it would be on a version of its template, or why it cannot be. */
export type VersionTarget =
  | {
      readonly ok: true;
      readonly template: Template;
      /** The stack record with the version's template in place of its own. */
      readonly next: StackRecord;
      readonly ref: { readonly name: string; readonly version: number; readonly hash: string };
    }
  | {
      /** `no-template`: made from a YAML body; `no-version`: no such version; `invalid`: it does not validate. */
      readonly ok: false;
      readonly reason: "no-template" | "no-version" | "invalid";
      readonly message: string;
      readonly problems?: readonly Problem[];
    };

/**
 * The stack as it would be on `version` of its team template (default: the newest), validated:
 * what an update records on the stack before its run, and what its change set compares with.
 */
export async function stackAtVersion(
  templates: Pick<TemplateCatalog, "getTemplateVersion">,
  stack: StackRecord,
  version: number | undefined,
  catalog: ProviderCatalog,
): Promise<VersionTarget> {
  if (!stack.template) {
    return {
      ok: false,
      reason: "no-template",
      message: `stack \`${stack.stackId}\` was made from a YAML body, not a team template: it has no versions to update to`,
    };
  }
  const { name } = stack.template;
  const v = await templates.getTemplateVersion(stack.team, name, version);
  if (!v) {
    return {
      ok: false,
      reason: "no-version",
      message: `team \`${stack.team}\` has no template \`${name}\`${version !== undefined ? ` at version ${version}` : ""}`,
    };
  }
  const file = `${name}.yaml`;
  const { template, problems } = loadTemplate(v.yaml, file, catalog);
  if (!template) {
    return {
      ok: false,
      reason: "invalid",
      message: `${name} v${v.version} has ${problems.length} problem(s)`,
      problems,
    };
  }
  return {
    ok: true,
    template,
    next: {
      ...stack,
      templateYaml: v.yaml,
      templateFile: file,
      templateHash: v.hash,
      template: { name, version: v.version },
    },
    ref: { name, version: v.version, hash: v.hash },
  };
}
