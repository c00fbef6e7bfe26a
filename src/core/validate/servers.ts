import { looksPortable, parsePortableSize } from "../capabilities.ts";
import { findReferences } from "../interpolate.ts";
import type { OptionalVerb, ProviderDeclaration } from "../providers.ts";
import type { ServerSpec } from "../template.ts";
import type { YMap, YNode } from "../yaml-tree.ts";
import { SERVER_NAME, type ValidationContext } from "./context.ts";
import { describe, didYouMean, oneOf } from "./hints.ts";
import { checkValue, scalarOf, toPlain } from "./values.ts";

/**
 * The servers: names, providers (from the catalog the validation was given), types, options,
 * user_data and depends_on. References inside user_data are queued for the reference check.
 */

const SERVER_KEYS = ["name", "provider", "type", "user_data", "depends_on", "options", "on_start"] as const;
type ServerFields = Partial<Record<(typeof SERVER_KEYS)[number], YNode>>;

/**
 * What a template asks of a provider beyond the required verbs, and where: `auto_stop` (settings)
 * stops every server, so it needs `stop` of each server's provider.
 */
export interface AskedOfEveryServer {
  /** The `auto_stop` setting's node, when the template has one. */
  readonly autoStop?: YNode;
}

export function serversOf(ctx: ValidationContext, node: YNode, asked: AskedOfEveryServer = {}): ServerSpec[] {
  if (node.kind !== "seq") {
    ctx.at(node.start, `servers: expected a list of servers (\`- name: ...\`), found ${describe(node)}`);
    return [];
  }
  if (node.items.length === 0)
    ctx.at(node.start, "servers: the list is empty; a template needs at least one server");
  // Names first, so references and depends_on can point forward.
  const maps: Array<{ map: YMap; f: ServerFields; name?: string }> = [];
  node.items.forEach((item, i) => {
    if (item.kind !== "map") {
      ctx.at(
        item.start,
        `servers[${i}]: expected a server mapping with name, provider and type, found ${describe(item)}`,
      );
      return;
    }
    const f = ctx.fields(item, `servers[${i}]`, SERVER_KEYS);
    const entry: (typeof maps)[number] = { map: item, f };
    if (!f.name)
      ctx.at(item.start, `servers[${i}]: missing \`name\`; every server needs a name such as \`db\``);
    else if (f.name.kind !== "scalar" || typeof f.name.value !== "string")
      ctx.at(f.name.start, `servers[${i}].name: expected a string, found ${describe(f.name)}`);
    else if (ctx.checkName(f.name, f.name.value, "server", SERVER_NAME)) {
      const first = ctx.serverNames.get(f.name.value);
      if (first) {
        const at = ctx.lines.position(first.start);
        ctx.at(
          f.name.start,
          `duplicate server name \`${f.name.value}\` (first used at line ${at.line}); server names must be unique`,
        );
      } else {
        ctx.serverNames.set(f.name.value, f.name);
        entry.name = f.name.value;
      }
    }
    maps.push(entry);
  });
  const servers: ServerSpec[] = [];
  maps.forEach(({ map, f, name }, i) => {
    const where = name ? `server \`${name}\`` : `servers[${i}]`;
    const provider = providerOf(ctx, map, f.provider, where);
    const type = typeOf(ctx, map, f.type, provider, where);
    const options = optionsOf(ctx, f.options, provider, where);
    const userData = userDataOf(ctx, f.user_data, provider, name, where);
    const dependsOn = dependsOnOf(ctx, f.depends_on, name, where);
    const onStart = onStartOf(ctx, f.on_start, name, where);
    if (provider) {
      const server = `${where} (line ${ctx.lines.position(map.start).line})`;
      if (onStart !== undefined && f.on_start) {
        lacking(ctx, f.on_start.start, server, provider, "start", "on_start runs when a server starts");
      }
      if (asked.autoStop) {
        lacking(
          ctx,
          (f.provider ?? map).start,
          server,
          provider,
          "stop",
          `settings.auto_stop (line ${ctx.lines.position(asked.autoStop.start).line}) stops every server of the stack`,
        );
      }
    }
    if (name && provider && type !== undefined) {
      servers.push({
        name,
        provider: provider.name,
        type,
        userData,
        dependsOn,
        options,
        ...(onStart !== undefined ? { onStart } : {}),
      });
      ctx.referenced.set(name, []);
    }
  });
  return servers;
}

/** Whose servers a verb does something to, in a message: "start servers". */
const VERB_DOES: Readonly<Record<OptionalVerb, string>> = {
  stop: "stop servers",
  start: "start servers",
  shell: "open a shell on servers",
};

/**
 * Reports, at `offset`, a server that asks its provider for an optional verb the provider lacks,
 * naming the capability and the providers that have it.
 */
function lacking(
  ctx: ValidationContext,
  offset: number,
  server: string,
  provider: ProviderDeclaration,
  verb: OptionalVerb,
  why: string,
): void {
  if (provider.capabilities.verbs.includes(verb)) return;
  const having = ctx.providers.declarations
    .filter((d) => d.capabilities.verbs.includes(verb))
    .map((d) => d.name);
  ctx.at(
    offset,
    `${server}: ${why}, and provider \`${provider.name}\` cannot ${VERB_DOES[verb]} (it lacks the \`${verb}\` capability; ${having.length > 0 ? `providers with it: ${having.join(", ")}` : "no provider has it"})`,
  );
}

function providerOf(
  ctx: ValidationContext,
  map: YMap,
  node: YNode | undefined,
  where: string,
): ProviderDeclaration | undefined {
  const { names, aliases } = ctx.providers;
  const expected = names.length > 0 ? `expected ${oneOf(names)}` : "no provider is registered";
  if (!node) {
    ctx.at(map.start, `${where}: missing \`provider\`; ${expected}`);
    return undefined;
  }
  const v = scalarOf(node);
  if (typeof v !== "string") {
    ctx.at(node.start, `${where}: provider must be a string, found ${describe(node)}`);
    return undefined;
  }
  const found = ctx.providers.lookup(v);
  if (found) {
    if (found.name !== v) ctx.note(node.start, `\`${v}\` is another name for \`${found.name}\``);
    return found;
  }
  const byProvider = new Map<string, string[]>();
  for (const [alias, of] of aliases) byProvider.set(of, [...(byProvider.get(of) ?? []), `\`${alias}\``]);
  const aliasNotes = [...byProvider].map(([of, list]) =>
    list.length === 1
      ? `${list[0]} is an alias of \`${of}\``
      : `${list.slice(0, -1).join(", ")} and ${list.at(-1)} are aliases of \`${of}\``,
  );
  ctx.at(
    node.start,
    `${where}: unknown provider \`${v}\`; ${expected}${aliasNotes.length > 0 ? ` (${aliasNotes.join("; ")})` : ""}${didYouMean(v, [...names, ...aliases.keys()])}`,
  );
  return undefined;
}

function typeOf(
  ctx: ValidationContext,
  map: YMap,
  node: YNode | undefined,
  provider: ProviderDeclaration | undefined,
  where: string,
): string | undefined {
  if (!node) {
    ctx.at(
      map.start,
      `${where}: missing \`type\`; expected a machine type or a portable size such as 4gb-ram/40gb-disk`,
    );
    return undefined;
  }
  const v = scalarOf(node);
  if (typeof v !== "string" || v === "") {
    ctx.at(
      node.start,
      `${where}: type must be a string such as t3.micro or 2cpu/4gb-ram, found ${describe(node)}`,
    );
    return undefined;
  }
  if (findReferences(v).length > 0) {
    ctx.at(
      node.start,
      `${where}: type cannot hold references; only user_data and hook parameters are interpolated`,
    );
    return undefined;
  }
  if (!provider) return v;
  const caps = provider.capabilities;
  if (caps.nativeType.test(v) && !looksPortable(v)) return v;
  if (looksPortable(v)) {
    const size = parsePortableSize(v);
    if (typeof size === "string") {
      ctx.at(node.start, `${where}: invalid portable size \`${v}\`: ${size}`);
      return undefined;
    }
    const mapped = caps.sizes.map(size, v);
    if ("problem" in mapped) {
      ctx.at(
        node.start,
        `${where}: provider \`${provider.name}\` has no offering for \`${v}\`: ${mapped.problem}`,
      );
      return undefined;
    }
    return v;
  }
  ctx.at(
    node.start,
    `${where}: provider \`${provider.name}\` has no machine type \`${v}\`; expected a ${provider.name} type such as ${caps.nativeTypeExample} or a portable size such as 4gb-ram/40gb-disk`,
  );
  return undefined;
}

function optionsOf(
  ctx: ValidationContext,
  node: YNode | undefined,
  provider: ProviderDeclaration | undefined,
  where: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  if (!node || (node.kind === "scalar" && node.value === null)) return out;
  if (node.kind !== "map") {
    ctx.at(node.start, `${where}: options must be a mapping, found ${describe(node)}`);
    return out;
  }
  if (!provider) return out;
  const specs = provider.capabilities.options;
  const names = Object.keys(specs);
  for (const { key, value } of node.entries) {
    const name = String(key.value);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const supported = names.length > 0 ? `supported: ${names.join(", ")}` : "it takes no options";
      ctx.at(
        key.start,
        `${where}: provider \`${provider.name}\` does not support option \`${name}\`; ${supported}${didYouMean(name, names)}`,
      );
      continue;
    }
    if (checkValue(ctx, value, spec, `${where}: options.${name}`)) out[name] = toPlain(value);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && !node.entries.some((e) => e.key.value === name)) {
      ctx.at(node.start, `${where}: provider \`${provider.name}\` needs option \`${name}\` (${spec.doc})`);
    }
  }
  return out;
}

function userDataOf(
  ctx: ValidationContext,
  node: YNode | undefined,
  provider: ProviderDeclaration | undefined,
  owner: string | undefined,
  where: string,
): string {
  if (!node || (node.kind === "scalar" && node.value === null)) return "";
  if (node.kind !== "scalar" || typeof node.value !== "string") {
    ctx.at(
      node.start,
      `${where}: user_data must be a script (a string; use \`|\` for several lines), found ${describe(node)}`,
    );
    return "";
  }
  const userData = node.value;
  const limit = provider?.capabilities.userDataLimit;
  if (limit) {
    const bytes = new TextEncoder().encode(userData).byteLength;
    if (bytes > limit.bytes) {
      ctx.at(
        node.start,
        `${where}: user_data is ${bytes} bytes; ${limit.why}: at most ${limit.bytes} bytes (fetch a larger script from user_data instead)`,
      );
    }
  }
  if (owner) ctx.pending.push({ node, value: userData, scope: "server", owner, where });
  return userData;
}

/**
 * `on_start`: a script run at every start of the server (after user_data the first time), with the
 * references user_data may use; the servers it references are waited for, as user_data's are.
 */
function onStartOf(
  ctx: ValidationContext,
  node: YNode | undefined,
  owner: string | undefined,
  where: string,
): string | undefined {
  if (!node || (node.kind === "scalar" && node.value === null)) return undefined;
  if (node.kind !== "scalar" || typeof node.value !== "string") {
    ctx.at(
      node.start,
      `${where}: on_start must be a script (a string; use \`|\` for several lines), found ${describe(node)}`,
    );
    return undefined;
  }
  if (owner)
    ctx.pending.push({ node, value: node.value, scope: "server", owner, where: `${where} on_start` });
  return node.value;
}

function dependsOnOf(
  ctx: ValidationContext,
  node: YNode | undefined,
  owner: string | undefined,
  where: string,
): string[] {
  if (!node || (node.kind === "scalar" && node.value === null)) return [];
  if (node.kind === "map") {
    ctx.at(node.start, `${where}: depends_on must be a list of server names, found a mapping`);
    return [];
  }
  const items = node.kind === "seq" ? node.items : [node];
  const out: string[] = [];
  for (const item of items) {
    const v = scalarOf(item);
    if (typeof v !== "string") {
      ctx.at(item.start, `${where}: depends_on entries must be server names, found ${describe(item)}`);
      continue;
    }
    if (!ctx.serverNames.has(v)) {
      ctx.at(item.start, `${where}: depends_on names unknown server \`${v}\`${ctx.serverChoices(v)}`);
      continue;
    }
    if (v === owner) {
      ctx.at(item.start, `${where} depends on itself; a server cannot wait for itself`);
      continue;
    }
    if (!out.includes(v)) out.push(v);
    if (owner) ctx.edge(owner, v, item.start);
  }
  return out;
}
