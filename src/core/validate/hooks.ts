import { COMMON_HOOK_PARAMS, type FieldSpec, HOOKS } from "../capabilities.ts";
import { HOOK_TYPES, type HookSpec, type HookType, type TemplateHookPhase } from "../template.ts";
import type { YNode, YScalar } from "../yaml-tree.ts";
import type { ValidationContext } from "./context.ts";
import { describe, didYouMean, oneOf } from "./hints.ts";
import { checkValue, collectStrings, toPlain } from "./values.ts";

/**
 * pre_hooks, post_hooks and destroy_hooks (which run before the servers are destroyed and see what
 * post_hooks see): each hook's type, its parameters checked against the hook table, and
 * the table's rules that look at more than one parameter (src/core/capabilities.ts, HOOKS).
 */

export function hooksOf(ctx: ValidationContext, node: YNode, phase: TemplateHookPhase): HookSpec[] {
  const where = `${phase}_hooks`;
  // Either a list of one-key mappings, or (as in the seed) one mapping whose entries run in order.
  let entries: ReadonlyArray<{ readonly key: YScalar; readonly value: YNode }>;
  if (node.kind === "seq") {
    const listed: Array<{ key: YScalar; value: YNode }> = [];
    entries = listed;
    node.items.forEach((item, i) => {
      if (item.kind !== "map" || item.entries.length !== 1) {
        ctx.at(
          item.start,
          `${where}[${i}]: expected one hook as \`- HOOK_TYPE: { params }\` (${oneOf(HOOK_TYPES)}), found ${item.kind === "map" ? `${item.entries.length} keys` : describe(item)}`,
        );
        return;
      }
      listed.push(item.entries[0] as { key: YScalar; value: YNode });
    });
  } else if (node.kind === "map") {
    entries = node.entries;
  } else if (node.value === null) {
    return [];
  } else {
    ctx.at(node.start, `${where}: expected a list of hooks, found ${describe(node)}`);
    return [];
  }
  const hooks: HookSpec[] = [];
  entries.forEach(({ key, value }, index) => {
    const type = String(key.value);
    if (!(HOOK_TYPES as readonly string[]).includes(type)) {
      ctx.at(
        key.start,
        `${where}: unknown hook \`${type}\`; expected ${oneOf(HOOK_TYPES)}${didYouMean(type, HOOK_TYPES)}`,
      );
      return;
    }
    const hook = hookOf(ctx, type as HookType, value, phase, index, `${where}[${index}] ${type}`);
    if (hook) hooks.push(hook);
  });
  return hooks;
}

function hookOf(
  ctx: ValidationContext,
  type: HookType,
  node: YNode,
  phase: TemplateHookPhase,
  index: number,
  where: string,
): HookSpec | undefined {
  if (node.kind !== "map") {
    ctx.at(node.start, `${where}: expected a mapping of parameters, found ${describe(node)}`);
    return undefined;
  }
  const specs: Record<string, FieldSpec> = { ...HOOKS[type].params, ...COMMON_HOOK_PARAMS };
  const names = Object.keys(specs);
  const params: Record<string, unknown> = Object.create(null);
  let ok = true;
  for (const { key, value } of node.entries) {
    const name = String(key.value);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      ctx.at(
        key.start,
        `${where}: unknown parameter \`${name}\`; expected ${oneOf(names)}${didYouMean(name, names)}`,
      );
      ok = false;
      continue;
    }
    if (!checkValue(ctx, value, spec, `${where}: ${name}`)) {
      ok = false;
      continue;
    }
    params[name] = toPlain(value);
    // destroy_hooks run while every server still exists: they may use what post_hooks use.
    collectStrings(ctx, value, spec, phase === "pre" ? "pre" : "post", `${where}: ${name}`);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && !(name in params) && !node.entries.some((e) => e.key.value === name)) {
      ctx.at(node.start, `${where}: missing required parameter \`${name}\` (${spec.doc})`);
      ok = false;
    }
  }
  const rule = HOOKS[type].rule;
  if (rule) {
    const found = rule({
      phase,
      params,
      complete: ok,
      hasServer: (name) => ctx.serverNames.has(name),
      serverChoices: (name) => ctx.serverChoices(name),
    });
    for (const problem of found) {
      const at =
        problem.param === undefined ? undefined : node.entries.find((e) => e.key.value === problem.param);
      ctx.at(at?.value.start ?? node.start, `${where}: ${problem.message}`);
      ok = false;
    }
  }
  const continueOnError = params.continue_on_error === true;
  delete params.continue_on_error;
  const keep = params.undo === false;
  delete params.undo;
  return ok
    ? { type, phase, index, params, continueOnError, ...(keep ? { undo: false as const } : {}) }
    : undefined;
}
