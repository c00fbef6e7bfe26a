import { formatProblem } from "../core/errors.ts";
import { createMasker } from "../core/mask.ts";
import type { TemplatePlan } from "../core/plan.ts";
import type { ProviderCatalog } from "../core/providers.ts";
import { type RenderData, userdataKeys } from "../core/render.ts";
import type { ProviderName, ServerSpec, Template } from "../core/template.ts";
import { loadTemplate } from "../core/validate.ts";
import type { HookRunner } from "../ports/hook.ts";
import type { EventPublisher, Executions, Readiness, TaskTokens } from "../ports/orchestration.ts";
import type { Provider } from "../ports/provider.ts";
import { HOOK_SECRETS, type Secrets } from "../ports/secrets.ts";
import type { ServerRecord, StackKey, StackRecord, Store } from "../ports/store.ts";
import { StackNotFoundError } from "../store/errors.ts";
import { TemplateInvalidError } from "./errors.ts";

/** What the task functions work with; built once per cold start (or once per local process). */
export interface PipelineDeps {
  readonly store: Store;
  /** The provider for a provider name. */
  readonly provider: (name: ProviderName) => Provider;
  /** The providers templates are validated against (the registry's, or a test's own). */
  readonly catalog: ProviderCatalog;
  readonly tokens: TaskTokens;
  readonly readiness: Readiness;
  readonly executions: Executions;
  readonly hooks: HookRunner;
  readonly events: EventPublisher;
  readonly secrets: Secrets;
  readonly now: () => Date;
}

/** Validated templates (with their plans) by catalog and hash: parsed once per process, not once per task. */
const templates = new WeakMap<ProviderCatalog, Map<string, LoadedTemplate>>();

/** A stack's template and the plan validation computed with it. */
export interface LoadedTemplate {
  readonly template: Template;
  readonly plan: TemplatePlan;
}

/**
 * The stack's template, parsed and validated against `catalog`, with its plan.
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

export async function getStack(deps: PipelineDeps, key: StackKey): Promise<StackRecord> {
  const stack = await deps.store.getStack(key);
  if (!stack) throw new StackNotFoundError(key.team, key.stackId);
  return stack;
}

/** The provider a server runs on in this stack: the catalog's simulator for a simulated provider. */
export function providerOf(
  stack: StackRecord,
  spec: Pick<ServerSpec, "provider">,
  catalog: ProviderCatalog,
): ProviderName {
  const simulator = catalog.simulator?.name;
  return simulator !== undefined && stack.simulate.includes(spec.provider) ? simulator : spec.provider;
}

export function serverSpec(template: Template, name: string): ServerSpec {
  const spec = template.servers.find((s) => s.name === name);
  if (!spec) throw new TemplateInvalidError(`the template has no server \`${name}\``);
  return spec;
}

/** Stack artifacts known once every server is ready. */
export function stackArtifacts(stack: StackRecord): Record<string, string> {
  return {
    stackId: stack.stackId,
    memberName: stack.member,
    teamName: stack.team,
    domainName: `${stack.member}.${stack.team}.teamstack.local`,
  };
}

/** The data references resolve against: vars, the member's data and secrets, the given servers' artifacts. */
export function renderData(
  template: Template,
  stack: StackRecord,
  servers: readonly ServerRecord[],
  withStackArtifacts: boolean,
  secret: StackSecrets,
): RenderData {
  const artifacts: Record<string, string | Record<string, string>> = withStackArtifacts
    ? stackArtifacts(stack)
    : {};
  for (const s of servers) if (s.artifacts) artifacts[s.name] = { ...s.artifacts };
  return { vars: template.vars, artifacts, userdata: { ...stack.userdata, ...secret.userdata } };
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

/** The secrets a stack uses, read for one task: member secrets for `$koding.userdata.*`, and a mask. */
export interface StackSecrets {
  /** Member secrets the template references, by key. */
  readonly userdata: Readonly<Record<string, string>>;
  /** Replaces every secret value the stack uses (member's and team's) with `***`. */
  readonly mask: (text: string) => string;
}

/**
 * Reads the secrets a stack's template uses, at the last moment, inside the task that needs them:
 * the member's secrets behind `$koding.userdata.*` and the team's secrets its hooks use.
 */
export async function stackSecrets(
  deps: PipelineDeps,
  stack: StackRecord,
  template: Template,
): Promise<StackSecrets> {
  const userdata: Record<string, string> = {};
  const values: string[] = [];
  await Promise.all(
    userdataKeys(template).map(async (k) => {
      const v = await deps.secrets.get({ team: stack.team, member: stack.member }, k);
      if (v !== undefined) {
        userdata[k] = v;
        values.push(v);
      }
    }),
  );
  const names = new Set<string>();
  for (const h of [...template.preHooks, ...template.postHooks]) {
    for (const n of HOOK_SECRETS[h.type]) names.add(n);
    if (h.type === "webhook" && typeof h.params.secret === "string") names.add(h.params.secret);
  }
  await Promise.all(
    [...names].map(async (n) => {
      const v = await deps.secrets.get({ team: stack.team }, n);
      if (v !== undefined) values.push(v);
    }),
  );
  return { userdata, mask: createMasker(values) };
}

export function iso(deps: PipelineDeps): string {
  return deps.now().toISOString();
}
