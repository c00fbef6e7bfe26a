import {
  COMMON_HOOK_PARAMS,
  type FieldSpec,
  HOOK_PARAMS,
  looksPortable,
  PROVIDER_CAPABILITIES,
  parseDuration,
  parsePortableSize,
  TWEET_MAX,
} from "./capabilities.ts";
import { type Problem, sortProblems } from "./errors.ts";
import { findCycles, type GraphNode } from "./graph.ts";
import { classify, findReferences, type Reference, scan } from "./interpolate.ts";
import { LineIndex } from "./source.ts";
import {
  DEFAULT_SETTINGS,
  HOOK_TYPES,
  type HookSpec,
  type HookType,
  PROVIDER_ALIASES,
  PROVIDERS,
  type ProviderName,
  type ServerSpec,
  type Settings,
  type Template,
  type VarValue,
} from "./template.ts";
import { parseYamlTree, type YMap, type YNode, type YScalar } from "./yaml-tree.ts";

/** Largest template accepted, in bytes. A template is a recipe, not data; DynamoDB items cap at 400 KB. */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;

/** EC2's 16 KB user_data limit, less the 2 KB the aws provider's wrapper may add. */
export const AWS_USER_DATA_MAX = 16 * 1024 - 2048;

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const SERVER_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;
const RESERVED = new Set(["__proto__", "constructor", "prototype"]);
const TOP_KEYS = ["vars", "settings", "pre_hooks", "servers", "post_hooks"] as const;
const SERVER_KEYS = ["name", "provider", "type", "user_data", "depends_on", "options"] as const;
const SETTINGS_KEYS = ["on_failure", "max_parallel", "server_timeout"] as const;

export interface LoadResult {
  /** The template, when it has no problems. */
  readonly template: Template | undefined;
  /** Every problem, sorted by position. */
  readonly problems: readonly Problem[];
}

/**
 * Reads and validates a stack template: YAML safety, structure, types, names, providers, hooks,
 * references and the dependency graph. Collects every problem rather than stopping at the first.
 */
export function loadTemplate(source: string | Uint8Array, file: string): LoadResult {
  const decoded = decode(source);
  if (typeof decoded !== "string") {
    return { template: undefined, problems: [{ file, ...decoded }] };
  }
  const v = new Validator(decoded, file);
  const template = v.run();
  const problems = sortProblems(v.problems);
  return { template: problems.length === 0 ? template : undefined, problems };
}

/** Decodes UTF-8, refusing large, binary and non-UTF-8 input with the position of the first bad byte. */
function decode(source: string | Uint8Array): string | { line: number; column: number; message: string } {
  // UTF-16 length never exceeds UTF-8 length, so only strings near the limit are encoded to measure.
  const size =
    typeof source !== "string"
      ? source.byteLength
      : source.length > MAX_TEMPLATE_BYTES
        ? source.length
        : new TextEncoder().encode(source).byteLength;
  if (size > MAX_TEMPLATE_BYTES) return { line: 1, column: 1, message: tooLarge(size) };
  let text: string;
  if (typeof source === "string") text = source;
  else {
    if ((source[0] === 0xff && source[1] === 0xfe) || (source[0] === 0xfe && source[1] === 0xff)) {
      return {
        line: 1,
        column: 1,
        message: "not UTF-8 text: the file starts with a UTF-16 byte order mark; save the template as UTF-8",
      };
    }
    if (looksUtf16(source)) {
      return {
        line: 1,
        column: 1,
        message:
          "not UTF-8 text: the file looks like UTF-16 (a zero byte beside each letter); save the template as UTF-8",
      };
    }
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(source);
    } catch {
      const at = firstInvalidUtf8(source);
      const before = new TextDecoder().decode(source.subarray(0, at));
      // Binary data often has control bytes before its first invalid UTF-8 byte: report the first.
      if (firstControlCharacter(before) === -1) {
        const pos = new LineIndex(before).position(before.length);
        return {
          ...pos,
          message: `not UTF-8 text: byte 0x${(source[at] ?? 0).toString(16).padStart(2, "0")} cannot start a character; a template is UTF-8 YAML`,
        };
      }
      text = before;
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Control characters other than tab, newline and carriage return mean binary data.
  const bad = firstControlCharacter(text);
  if (bad !== -1) {
    const pos = new LineIndex(text).position(bad);
    return {
      ...pos,
      message: `binary data: control character 0x${text.charCodeAt(bad).toString(16).padStart(2, "0")} found; a template is YAML text`,
    };
  }
  return text;
}

/** UTF-16 without a byte order mark: ASCII text with a zero byte before or after each letter. */
function looksUtf16(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const [a, b, c, d] = bytes as unknown as [number, number, number, number];
  return (a !== 0 && b === 0 && c !== 0 && d === 0) || (a === 0 && b !== 0 && c === 0 && d !== 0);
}

function firstControlCharacter(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return i;
  }
  return -1;
}

/** The problem of a template of `size` bytes, over the limit. */
export function tooLarge(size: number): string {
  return `template is ${formatBytes(size)}; a template may be at most ${formatBytes(MAX_TEMPLATE_BYTES)}`;
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const n =
      b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return i;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

type Scope = "pre" | "server" | "post";

interface PendingRefs {
  readonly node: YScalar;
  readonly value: string;
  readonly scope: Scope;
  readonly owner?: string;
  readonly where: string;
}

class Validator {
  readonly problems: Problem[] = [];
  readonly #text: string;
  readonly #file: string;
  readonly #lines: LineIndex;
  readonly #pending: PendingRefs[] = [];
  #vars = new Map<string, VarValue>();
  #serverNames = new Map<string, YScalar>();
  /** First place each dependency edge appears, for cycle messages. */
  #edges = new Map<string, number>();
  #serverDeps = new Map<string, string[]>();
  /** Names left to compare for "did you mean" hints. */
  #comparisons = 1_000_000;

  constructor(text: string, file: string) {
    this.#text = text;
    this.#file = file;
    this.#lines = new LineIndex(text);
  }

  run(): Template | undefined {
    const { root, problems } = parseYamlTree(this.#text);
    for (const p of problems) this.#at(p.offset, p.message);
    if (problems.length > 0) return undefined;
    if (root === undefined || (root.kind === "scalar" && root.value === null)) {
      this.#at(0, "template is empty; expected a mapping with at least `servers:`");
      return undefined;
    }
    if (root.kind !== "map") {
      this.#at(root.start, `expected a mapping with \`servers:\` at the top, found ${describe(root)}`);
      return undefined;
    }
    const top = this.#fields(root, "template", TOP_KEYS);
    const vars = top.vars ? this.#varsOf(top.vars) : {};
    const settings = top.settings ? this.#settingsOf(top.settings) : DEFAULT_SETTINGS;
    // Servers first: hooks check their targets against the server names.
    let servers: ServerSpec[] = [];
    if (!top.servers) this.#at(root.start, "missing `servers`: a template needs at least one server");
    else servers = this.#serversOf(top.servers);
    const preHooks = top.pre_hooks ? this.#hooksOf(top.pre_hooks, "pre") : [];
    const postHooks = top.post_hooks ? this.#hooksOf(top.post_hooks, "post") : [];
    this.#checkReferences();
    this.#checkCycles(servers);
    return { vars, settings, preHooks, servers, postHooks };
  }

  #at(offset: number, message: string): void {
    this.problems.push({ file: this.#file, ...this.#lines.position(offset), message });
  }

  /** Checks a mapping's keys against the allowed ones; returns the values by key. */
  #fields<K extends string>(map: YMap, where: string, allowed: readonly K[]): Partial<Record<K, YNode>> {
    const out: Partial<Record<K, YNode>> = Object.create(null);
    for (const { key, value } of map.entries) {
      const name = String(key.value);
      if ((allowed as readonly string[]).includes(name)) out[name as K] = value;
      else
        this.#at(
          key.start,
          `${where}: unknown key \`${name}\`; expected ${oneOf(allowed)}${didYouMean(name, allowed)}`,
        );
    }
    return out;
  }

  #varsOf(node: YNode): Record<string, VarValue> {
    const vars: Record<string, VarValue> = Object.create(null);
    if (node.kind === "scalar" && node.value === null) return vars;
    if (node.kind !== "map") {
      this.#at(node.start, `vars: expected a mapping of names to values, found ${describe(node)}`);
      return vars;
    }
    for (const { key, value } of node.entries) {
      const name = String(key.value);
      if (!this.#checkName(key, name, "var")) continue;
      if (value.kind !== "scalar" || value.value === null) {
        this.#at(value.start, `vars.${name}: expected a string, number or boolean, found ${describe(value)}`);
        continue;
      }
      if (typeof value.value === "string" && findReferences(value.value).length > 0) {
        this.#at(value.start, `vars.${name}: vars are plain values and cannot hold references`);
        continue;
      }
      vars[name] = value.value;
      this.#vars.set(name, value.value);
    }
    return vars;
  }

  #checkName(key: YScalar, name: string, what: string, pattern = NAME): boolean {
    if (RESERVED.has(name)) {
      this.#at(key.start, `\`${name}\` is a reserved word and cannot name a ${what}`);
      return false;
    }
    if (!pattern.test(name)) {
      this.#at(
        key.start,
        `invalid ${what} name \`${name}\`: expected a letter or _ followed by letters, digits, _ or -${pattern === SERVER_NAME ? " (at most 63)" : ""}`,
      );
      return false;
    }
    return true;
  }

  #settingsOf(node: YNode): Settings {
    if (node.kind !== "map") {
      this.#at(node.start, `settings: expected a mapping, found ${describe(node)}`);
      return DEFAULT_SETTINGS;
    }
    const f = this.#fields(node, "settings", SETTINGS_KEYS);
    let { onFailure, maxParallel, serverTimeoutSeconds } = DEFAULT_SETTINGS;
    if (f.on_failure) {
      const v = scalarOf(f.on_failure);
      if (v === "keep" || v === "rollback") onFailure = v;
      else
        this.#at(
          f.on_failure.start,
          `settings.on_failure: expected keep or rollback, found ${describe(f.on_failure)}`,
        );
    }
    if (f.max_parallel) {
      const v = scalarOf(f.max_parallel);
      if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 1000) maxParallel = v;
      else
        this.#at(
          f.max_parallel.start,
          `settings.max_parallel: expected a whole number from 1 to 1000, found ${describe(f.max_parallel)}`,
        );
    }
    if (f.server_timeout) {
      const v = scalarOf(f.server_timeout);
      const seconds = typeof v === "string" || typeof v === "number" ? parseDuration(v) : undefined;
      if (seconds !== undefined && seconds <= 86_400) serverTimeoutSeconds = seconds;
      else
        this.#at(
          f.server_timeout.start,
          `settings.server_timeout: expected a duration such as 90s, 10m or 1h30m (at most 24h), found ${describe(f.server_timeout)}`,
        );
    }
    return { onFailure, maxParallel, serverTimeoutSeconds };
  }

  #serversOf(node: YNode): ServerSpec[] {
    if (node.kind !== "seq") {
      this.#at(node.start, `servers: expected a list of servers (\`- name: ...\`), found ${describe(node)}`);
      return [];
    }
    if (node.items.length === 0)
      this.#at(node.start, "servers: the list is empty; a template needs at least one server");
    // Names first, so references and depends_on can point forward.
    const maps: Array<{ map: YMap; f: Partial<Record<(typeof SERVER_KEYS)[number], YNode>>; name?: string }> =
      [];
    node.items.forEach((item, i) => {
      if (item.kind !== "map") {
        this.#at(
          item.start,
          `servers[${i}]: expected a server mapping with name, provider and type, found ${describe(item)}`,
        );
        return;
      }
      const f = this.#fields(item, `servers[${i}]`, SERVER_KEYS);
      const entry: (typeof maps)[number] = { map: item, f };
      if (!f.name)
        this.#at(item.start, `servers[${i}]: missing \`name\`; every server needs a name such as \`db\``);
      else if (f.name.kind !== "scalar" || typeof f.name.value !== "string")
        this.#at(f.name.start, `servers[${i}].name: expected a string, found ${describe(f.name)}`);
      else if (this.#checkName(f.name, f.name.value, "server", SERVER_NAME)) {
        const first = this.#serverNames.get(f.name.value);
        if (first) {
          const at = this.#lines.position(first.start);
          this.#at(
            f.name.start,
            `duplicate server name \`${f.name.value}\` (first used at line ${at.line}); server names must be unique`,
          );
        } else {
          this.#serverNames.set(f.name.value, f.name);
          entry.name = f.name.value;
        }
      }
      maps.push(entry);
    });
    const servers: ServerSpec[] = [];
    maps.forEach(({ map, f, name }, i) => {
      const where = name ? `server \`${name}\`` : `servers[${i}]`;
      const provider = this.#providerOf(map, f.provider, where);
      const type = this.#typeOf(map, f.type, provider, where);
      const options = this.#optionsOf(f.options, provider, where);
      let userData = "";
      if (f.user_data) {
        if (f.user_data.kind === "scalar" && typeof f.user_data.value === "string") {
          userData = f.user_data.value;
          const bytes = new TextEncoder().encode(userData).byteLength;
          if (provider === "aws" && bytes > AWS_USER_DATA_MAX) {
            this.#at(
              f.user_data.start,
              `${where}: user_data is ${bytes} bytes; EC2 takes 16 KB, of which teamstack's wrapper needs 2 KB: at most ${AWS_USER_DATA_MAX} bytes (fetch a larger script from user_data instead)`,
            );
          }
          if (name)
            this.#pending.push({ node: f.user_data, value: userData, scope: "server", owner: name, where });
        } else if (!(f.user_data.kind === "scalar" && f.user_data.value === null)) {
          this.#at(
            f.user_data.start,
            `${where}: user_data must be a script (a string; use \`|\` for several lines), found ${describe(f.user_data)}`,
          );
        }
      }
      const dependsOn = this.#dependsOnOf(f.depends_on, name, where);
      if (name && provider && type !== undefined) {
        servers.push({ name, provider, type, userData, dependsOn, options });
        this.#serverDeps.set(name, [...dependsOn]);
      }
    });
    return servers;
  }

  #providerOf(map: YMap, node: YNode | undefined, where: string): ProviderName | undefined {
    if (!node) {
      this.#at(map.start, `${where}: missing \`provider\`; expected ${oneOf(PROVIDERS)}`);
      return undefined;
    }
    const v = scalarOf(node);
    if (typeof v !== "string") {
      this.#at(node.start, `${where}: provider must be a string, found ${describe(node)}`);
      return undefined;
    }
    if ((PROVIDERS as readonly string[]).includes(v)) return v as ProviderName;
    const alias = PROVIDER_ALIASES[v];
    if (alias !== undefined && Object.hasOwn(PROVIDER_ALIASES, v)) return alias;
    this.#at(
      node.start,
      `${where}: unknown provider \`${v}\`; expected ${oneOf(PROVIDERS)} (\`localhost\` is an alias of \`local\`)${didYouMean(v, [...PROVIDERS, "localhost"])}`,
    );
    return undefined;
  }

  #typeOf(
    map: YMap,
    node: YNode | undefined,
    provider: ProviderName | undefined,
    where: string,
  ): string | undefined {
    if (!node) {
      this.#at(
        map.start,
        `${where}: missing \`type\`; expected a machine type or a portable size such as 4gb-ram/40gb-disk`,
      );
      return undefined;
    }
    const v = scalarOf(node);
    if (typeof v !== "string" || v === "") {
      this.#at(
        node.start,
        `${where}: type must be a string such as t3.micro or 2cpu/4gb-ram, found ${describe(node)}`,
      );
      return undefined;
    }
    if (findReferences(v).length > 0) {
      this.#at(
        node.start,
        `${where}: type cannot hold references; only user_data and hook parameters are interpolated`,
      );
      return undefined;
    }
    if (!provider) return v;
    const caps = PROVIDER_CAPABILITIES[provider];
    if (caps.nativeType.test(v) && !looksPortable(v)) return v;
    if (looksPortable(v)) {
      const size = parsePortableSize(v);
      if (typeof size === "string") {
        this.#at(node.start, `${where}: invalid portable size \`${v}\`: ${size}`);
        return undefined;
      }
      return v;
    }
    this.#at(
      node.start,
      `${where}: provider \`${provider}\` has no machine type \`${v}\`; expected a ${provider} type such as ${caps.nativeTypeExample} or a portable size such as 4gb-ram/40gb-disk`,
    );
    return undefined;
  }

  #optionsOf(
    node: YNode | undefined,
    provider: ProviderName | undefined,
    where: string,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    if (!node || (node.kind === "scalar" && node.value === null)) return out;
    if (node.kind !== "map") {
      this.#at(node.start, `${where}: options must be a mapping, found ${describe(node)}`);
      return out;
    }
    if (!provider) return out;
    const specs = PROVIDER_CAPABILITIES[provider].options;
    const names = Object.keys(specs);
    for (const { key, value } of node.entries) {
      const name = String(key.value);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) {
        const supported = names.length > 0 ? `supported: ${names.join(", ")}` : "it takes no options";
        this.#at(
          key.start,
          `${where}: provider \`${provider}\` does not support option \`${name}\`; ${supported}${didYouMean(name, names)}`,
        );
        continue;
      }
      if (this.#checkValue(value, spec, `${where}: options.${name}`)) out[name] = toPlain(value);
    }
    return out;
  }

  #dependsOnOf(node: YNode | undefined, owner: string | undefined, where: string): string[] {
    if (!node || (node.kind === "scalar" && node.value === null)) return [];
    const items = node.kind === "seq" ? node.items : node.kind === "scalar" ? [node] : [];
    if (node.kind === "map") {
      this.#at(node.start, `${where}: depends_on must be a list of server names, found a mapping`);
      return [];
    }
    const out: string[] = [];
    for (const item of items) {
      const v = scalarOf(item);
      if (typeof v !== "string") {
        this.#at(item.start, `${where}: depends_on entries must be server names, found ${describe(item)}`);
        continue;
      }
      if (!this.#serverNames.has(v)) {
        this.#at(item.start, `${where}: depends_on names unknown server \`${v}\`${this.#serverChoices(v)}`);
        continue;
      }
      if (v === owner) {
        this.#at(item.start, `${where} depends on itself; a server cannot wait for itself`);
        continue;
      }
      if (!out.includes(v)) out.push(v);
      if (owner) this.#edge(owner, v, item.start);
    }
    return out;
  }

  #edge(from: string, to: string, offset: number): void {
    const key = `${from}\u0000${to}`;
    if (!this.#edges.has(key)) this.#edges.set(key, offset);
  }

  #serverChoices(name: string): string {
    if (this.#serverNames.size === 0) return "; the template defines no servers";
    return `; servers are: ${this.#someNames(name, this.#serverNames)}`;
  }

  /**
   * The first 20 names, and the closest one to `found`. A template of thousands of servers with
   * thousands of wrong names would take minutes to compare them all, so comparisons have a budget.
   */
  #someNames(found: string, names: ReadonlyMap<string, unknown>): string {
    const listed: string[] = [];
    for (const n of names.keys()) {
      if (listed.length === 20) break;
      listed.push(n);
    }
    this.#comparisons -= names.size;
    const hint = this.#comparisons >= 0 ? didYouMean(found, [...names.keys()]) : "";
    return `${listed.join(", ")}${names.size > 20 ? ", ..." : ""}${hint}`;
  }

  #hooksOf(node: YNode, phase: "pre" | "post"): HookSpec[] {
    const where = `${phase}_hooks`;
    // Either a list of one-key mappings, or (as in the seed) one mapping whose entries run in order.
    let entries: Array<{ key: YScalar; value: YNode; item: YNode }>;
    if (node.kind === "seq") {
      entries = [];
      node.items.forEach((item, i) => {
        if (item.kind !== "map" || item.entries.length !== 1) {
          this.#at(
            item.start,
            `${where}[${i}]: expected one hook as \`- HOOK_TYPE: { params }\` (${oneOf(HOOK_TYPES)}), found ${item.kind === "map" ? `${item.entries.length} keys` : describe(item)}`,
          );
          return;
        }
        const e = item.entries[0] as { key: YScalar; value: YNode };
        entries.push({ ...e, item });
      });
    } else if (node.kind === "map") {
      entries = node.entries.map((e) => ({ ...e, item: e.key }));
    } else if (node.value === null) {
      return [];
    } else {
      this.#at(node.start, `${where}: expected a list of hooks, found ${describe(node)}`);
      return [];
    }
    const hooks: HookSpec[] = [];
    entries.forEach(({ key, value }, index) => {
      const type = String(key.value);
      if (!(HOOK_TYPES as readonly string[]).includes(type)) {
        this.#at(
          key.start,
          `${where}: unknown hook \`${type}\`; expected ${oneOf(HOOK_TYPES)}${didYouMean(type, HOOK_TYPES)}`,
        );
        return;
      }
      const hook = this.#hookOf(type as HookType, value, phase, index, `${where}[${index}] ${type}`);
      if (hook) hooks.push(hook);
    });
    return hooks;
  }

  #hookOf(
    type: HookType,
    node: YNode,
    phase: "pre" | "post",
    index: number,
    where: string,
  ): HookSpec | undefined {
    if (node.kind !== "map") {
      this.#at(node.start, `${where}: expected a mapping of parameters, found ${describe(node)}`);
      return undefined;
    }
    const specs: Record<string, FieldSpec> = { ...HOOK_PARAMS[type], ...COMMON_HOOK_PARAMS };
    const names = Object.keys(specs);
    const params: Record<string, unknown> = Object.create(null);
    let ok = true;
    for (const { key, value } of node.entries) {
      const name = String(key.value);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) {
        this.#at(
          key.start,
          `${where}: unknown parameter \`${name}\`; expected ${oneOf(names)}${didYouMean(name, names)}`,
        );
        ok = false;
        continue;
      }
      if (!this.#checkValue(value, spec, `${where}: ${name}`)) {
        ok = false;
        continue;
      }
      params[name] = toPlain(value);
      this.#collectStrings(value, spec, phase === "pre" ? "pre" : "post", `${where}: ${name}`);
    }
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.required && !(name in params) && !node.entries.some((e) => e.key.value === name)) {
        this.#at(node.start, `${where}: missing required parameter \`${name}\` (${spec.doc})`);
        ok = false;
      }
    }
    if (type === "slack_msg" && !("channel" in params) && !("webhook_url" in params) && ok) {
      this.#at(
        node.start,
        `${where}: give \`channel\` (Slack Web API) or \`webhook_url\` (incoming webhook)`,
      );
      ok = false;
    }
    if (type === "send_tweet" && typeof params.msg === "string" && findReferences(params.msg).length === 0) {
      const length = [...params.msg].length;
      if (length > TWEET_MAX) {
        const msg = node.entries.find((e) => e.key.value === "msg");
        this.#at(
          msg?.value.start ?? node.start,
          `${where}: msg is ${length} characters; a post may have at most ${TWEET_MAX}`,
        );
        ok = false;
      }
    }
    if (type === "run_script" && typeof params.target_server === "string") {
      const target = node.entries.find((e) => e.key.value === "target_server")?.value as YNode;
      if (phase === "pre") {
        this.#at(
          target.start,
          `${where}: run_script cannot run in pre_hooks: no server exists yet; move it to post_hooks`,
        );
        ok = false;
      } else if (!this.#serverNames.has(params.target_server)) {
        this.#at(
          target.start,
          `${where}: target_server \`${params.target_server}\` is not a server of this template${this.#serverChoices(params.target_server)}`,
        );
        ok = false;
      }
    }
    const continueOnError = params.continue_on_error === true;
    delete params.continue_on_error;
    return ok ? { type, phase, index, params, continueOnError } : undefined;
  }

  /** Queues every interpolated string inside a value for the reference check. */
  #collectStrings(node: YNode, spec: FieldSpec, scope: Scope, where: string): void {
    const v = spec.value;
    const interpolated = "interpolated" in v && v.interpolated;
    if (!interpolated) {
      for (const s of scalars(node)) {
        if (
          typeof s.value === "string" &&
          scan(s.value).some((t) => t.kind === "ref" || t.kind === "malformed")
        )
          this.#at(s.start, `${where}: references are not allowed here; write the value itself`);
      }
      return;
    }
    for (const s of scalars(node)) {
      if (typeof s.value === "string") this.#pending.push({ node: s, value: s.value, scope, where });
    }
  }

  /** Checks a parameter or option against its spec; reports and returns false when it does not fit. */
  #checkValue(node: YNode, spec: FieldSpec, where: string): boolean {
    const v = spec.value;
    const s = scalarOf(node);
    const fail = (expected: string): false => {
      this.#at(node.start, `${where}: expected ${expected}, found ${describe(node)}`);
      return false;
    };
    switch (v.kind) {
      case "string":
        if (typeof s !== "string")
          return fail(`a string${typeof s === "number" ? ` (quote it: "${s}")` : ""}`);
        if (v.pattern && !v.pattern.test(s)) return fail(v.describe ?? `text matching ${v.pattern}`);
        return true;
      case "integer":
        if (typeof s !== "number" || !Number.isInteger(s) || s < v.min || s > v.max)
          return fail(`a whole number from ${v.min} to ${v.max}`);
        return true;
      case "number":
        if (typeof s !== "number" || s < v.min || s > v.max)
          return fail(`a number from ${v.min} to ${v.max}`);
        return true;
      case "boolean":
        if (typeof s !== "boolean") return fail("true or false");
        return true;
      case "enum":
        if (!v.values.includes(s as string | boolean)) return fail(oneOf(v.values.map(String)));
        return true;
      case "fail":
        if (s === true || s === false || s === "once") return true;
        if (typeof s === "number" && s >= 0 && s <= 1) return true;
        return fail("true, false, once, or a failure rate from 0 to 1");
      case "duration":
        if ((typeof s === "string" || typeof s === "number") && parseDuration(s) !== undefined) return true;
        return fail("a duration such as 90s, 10m or 1h30m");
      case "stringList": {
        if (node.kind !== "seq") return fail("a list of strings");
        let ok = true;
        for (const item of node.items) {
          const x = scalarOf(item);
          if (typeof x !== "string" || (v.pattern && !v.pattern.test(x))) {
            this.#at(item.start, `${where}: expected ${v.describe ?? "a string"}, found ${describe(item)}`);
            ok = false;
          }
        }
        return ok;
      }
      case "stringMap": {
        if (node.kind !== "map") return fail("a mapping of names to strings");
        let ok = this.#checkNoProtoKeys(node, where);
        for (const e of node.entries) {
          if (typeof scalarOf(e.value) !== "string") {
            this.#at(
              e.value.start,
              `${where}.${String(e.key.value)}: expected a string, found ${describe(e.value)}`,
            );
            ok = false;
          }
        }
        return ok;
      }
      case "object":
        if (node.kind !== "map") return fail("a mapping");
        return this.#checkNoProtoKeys(node, where);
      case "firewall":
        return this.#checkFirewall(node, where);
    }
  }

  /** Free-form mappings become JavaScript objects, where a `__proto__` key would set the prototype. */
  #checkNoProtoKeys(node: YNode, where: string): boolean {
    let ok = true;
    const stack: YNode[] = [node];
    while (stack.length > 0) {
      const n = stack.pop() as YNode;
      if (n.kind === "seq") for (const item of n.items) stack.push(item);
      if (n.kind !== "map") continue;
      for (const e of n.entries) {
        if (e.key.value === "__proto__") {
          this.#at(
            e.key.start,
            `${where}: \`__proto__\` cannot be a key (it would replace the object's prototype); rename it`,
          );
          ok = false;
        }
        stack.push(e.value);
      }
    }
    return ok;
  }

  #checkFirewall(node: YNode, where: string): boolean {
    if (node.kind !== "seq") {
      this.#at(node.start, `${where}: expected a list of rules such as \`- { port: 22, from: 10.0.0.0/8 }\``);
      return false;
    }
    let ok = true;
    node.items.forEach((rule, i) => {
      const at = `${where}[${i}]`;
      if (rule.kind !== "map") {
        this.#at(rule.start, `${at}: expected a rule mapping with port, protocol and from`);
        ok = false;
        return;
      }
      const f = this.#fields(rule, at, ["port", "protocol", "from"] as const);
      const port = f.port ? scalarOf(f.port) : undefined;
      const portOk =
        (typeof port === "number" && Number.isInteger(port) && port >= 0 && port <= 65535) ||
        (typeof port === "string" && /^\d{1,5}-\d{1,5}$/.test(port));
      if (!portOk) {
        this.#at(f.port?.start ?? rule.start, `${at}: port must be 0-65535 or a range such as 8000-8100`);
        ok = false;
      }
      if (f.protocol && !["tcp", "udp", "icmp", "all"].includes(String(scalarOf(f.protocol)))) {
        this.#at(
          f.protocol.start,
          `${at}: protocol must be tcp, udp, icmp or all, found ${describe(f.protocol)}`,
        );
        ok = false;
      }
      if (f.from && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(String(scalarOf(f.from)))) {
        this.#at(
          f.from.start,
          `${at}: from must be an IPv4 CIDR such as 10.0.0.0/8, found ${describe(f.from)}`,
        );
        ok = false;
      }
    });
    return ok;
  }

  /** Resolves every queued reference: known, allowed where it stands, not the server itself. */
  #checkReferences(): void {
    for (const { node, value, scope, owner, where } of this.#pending) {
      const locate = this.#locator(node);
      for (const token of scan(value)) {
        if (token.kind === "text") continue;
        if (token.kind === "escape") {
          locate(`$${token.literal}`);
          continue;
        }
        if (token.kind === "malformed") {
          this.#at(locate(token.raw), `${where}: ${token.message}`);
          continue;
        }
        const ref = token.ref;
        const offset = locate(ref.raw);
        const message = this.#checkReference(ref, scope, owner, offset);
        if (message) this.#at(offset, `${where}: ${message}`);
      }
    }
  }

  #checkReference(
    ref: Reference,
    scope: Scope,
    owner: string | undefined,
    offset: number,
  ): string | undefined {
    const meaning = classify(ref);
    const raw = `\`${ref.raw}\``;
    switch (meaning.kind) {
      case "invalid":
        return meaning.message;
      case "var":
        if (this.#vars.has(meaning.name)) return undefined;
        return `${raw} names unknown var \`${meaning.name}\`; ${
          this.#vars.size > 0
            ? `defined vars: ${this.#someNames(meaning.name, this.#vars)}`
            : "the template defines no vars"
        }`;
      case "userdata":
        return undefined;
      case "stack":
        if (scope === "post") return undefined;
        return `${raw} is not known until every server is ready; stack artifacts can be used in post_hooks`;
      case "server": {
        if (scope === "pre")
          return `${raw} cannot be used in pre_hooks: they run before any server exists; pre_hooks may use $vars and $koding.userdata`;
        if (!this.#serverNames.has(meaning.server))
          return `${raw} names unknown server \`${meaning.server}\`${this.#serverChoices(meaning.server)}`;
        if (scope === "server" && owner !== undefined) {
          if (meaning.server === owner)
            return `${raw}: server \`${owner}\` references itself; a server cannot use its own artifacts (use $TEAMSTACK_IP, $TEAMSTACK_SERVER)`;
          const deps = this.#serverDeps.get(owner);
          if (deps && !deps.includes(meaning.server)) deps.push(meaning.server);
          this.#edge(owner, meaning.server, offset);
        }
        return undefined;
      }
    }
  }

  /**
   * Where each successive reference, escape or malformed reference of a scalar's value stands in
   * the source. They keep their text and their order whatever the scalar's style (plain, quoted,
   * block), so each is searched for after the previous one: linear in the scalar's length.
   */
  #locator(node: YScalar): (raw: string) => number {
    // A block scalar's header line (`|`, `>-`, a comment) holds no content.
    const block = node.style === "literal" || node.style === "folded";
    const from = block ? this.#text.indexOf("\n", node.start) + 1 || node.end : node.start;
    const src = this.#text.slice(from, node.end);
    let cursor = 0;
    let lost = false;
    return (raw) => {
      const at = lost ? -1 : src.indexOf(raw, cursor);
      // Only an escape sequence (`"\x24vars.x"`) hides a reference's text; then the scalar will do.
      if (at === -1) {
        lost = true;
        return node.start;
      }
      cursor = at + raw.length;
      return from + at;
    };
  }

  #checkCycles(servers: readonly ServerSpec[]): void {
    const nodes: GraphNode[] = servers.map((s) => ({
      name: s.name,
      dependsOn: this.#serverDeps.get(s.name) ?? [],
    }));
    for (const cycle of findCycles(nodes)) {
      if (cycle.length < 2) continue; // self-references are reported where they stand
      const [a, b] = cycle as [string, string];
      const offset = this.#edges.get(`${a}\u0000${b}`) ?? this.#serverNames.get(a)?.start ?? 0;
      this.#at(
        offset,
        `dependency cycle: ${[...cycle, a].join(" → ")}; servers in a cycle would wait for each other forever`,
      );
    }
  }
}

function scalarOf(node: YNode): string | number | boolean | null | undefined {
  return node.kind === "scalar" ? node.value : undefined;
}

function* scalars(node: YNode): Generator<YScalar> {
  const stack: YNode[] = [node];
  while (stack.length > 0) {
    const n = stack.pop() as YNode;
    if (n.kind === "scalar") yield n;
    else if (n.kind === "seq") for (const item of n.items) stack.push(item);
    else for (const e of n.entries) stack.push(e.value);
  }
}

/** A YNode as plain data, with prototype-free objects. */
export function toPlain(node: YNode): unknown {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "seq") return node.items.map(toPlain);
  const out: Record<string, unknown> = Object.create(null);
  for (const e of node.entries) out[String(e.key.value)] = toPlain(e.value);
  return out;
}

function describe(node: YNode): string {
  if (node.kind === "map") return "a mapping";
  if (node.kind === "seq") return "a list";
  const v = node.value;
  if (v === null) return "nothing";
  if (typeof v === "string") return `\`${v.length > 40 ? `${v.slice(0, 40)}...` : v}\``;
  return `${typeof v} ${String(v)}`;
}

function oneOf(values: readonly string[]): string {
  if (values.length === 1) return values[0] as string;
  return `one of ${values.join(", ")}`;
}

/** " (did you mean `x`?)" when a known name is close to the one found. */
function didYouMean(found: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(found.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) && best !== found
    ? ` (did you mean \`${best}\`?)`
    : "";
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
