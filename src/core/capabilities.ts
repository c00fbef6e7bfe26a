import { findReferences } from "./interpolate.ts";
import type { HookType, TemplateHookPhase } from "./template.ts";

/**
 * What values template fields take, and what each hook accepts: the tables that validation, the
 * JSON Schema and the docs agree on. What each provider accepts is in its own declaration
 * (src/core/providers.ts describes the shape; src/providers/<name>/declaration.ts fills it in).
 */

/**
 * The kind of value a parameter or option takes. `describe`, where given, says what is expected in
 * the user's words ("an AWS region"), in place of the kind's own wording.
 */
export type ValueKind =
  | {
      readonly kind: "string";
      readonly pattern?: RegExp;
      readonly describe?: string;
      readonly interpolated: boolean;
    }
  | { readonly kind: "integer"; readonly min: number; readonly max: number; readonly describe?: string }
  | { readonly kind: "number"; readonly min: number; readonly max: number; readonly describe?: string }
  | { readonly kind: "boolean" }
  | { readonly kind: "enum"; readonly values: readonly (string | boolean)[]; readonly describe?: string }
  /** Any one of `choices` (sim's `fail`: true, false, `once` or a rate). */
  | { readonly kind: "oneOf"; readonly choices: readonly ValueKind[]; readonly describe: string }
  | { readonly kind: "stringList"; readonly pattern?: RegExp; readonly describe?: string }
  /** A list of mappings, each with these fields (aws's `firewall` rules). */
  | {
      readonly kind: "records";
      readonly fields: Readonly<Record<string, FieldSpec>>;
      readonly describe: string;
    }
  | { readonly kind: "object"; readonly interpolated: boolean }
  | { readonly kind: "stringMap"; readonly interpolated: boolean }
  | { readonly kind: "duration" };

export interface FieldSpec {
  readonly value: ValueKind;
  readonly required?: boolean;
  readonly doc: string;
}

/** Whether a value of this kind is a template string that may hold references. */
export function isInterpolated(value: ValueKind): boolean {
  return "interpolated" in value && value.interpolated;
}

const text = (doc: string, required = false): FieldSpec => ({
  value: { kind: "string", interpolated: true },
  doc,
  required,
});

/** Parameters every hook accepts besides its own. */
export const COMMON_HOOK_PARAMS: Readonly<Record<string, FieldSpec>> = {
  continue_on_error: {
    value: { kind: "boolean" },
    doc: "Run the rest of the stack even if this hook fails.",
  },
};

const HOOK_PARAMS: Readonly<Record<HookType, Readonly<Record<string, FieldSpec>>>> = {
  add_github_user: {
    org: text("GitHub organization login.", true),
    team_name: text("Team slug within the organization.", true),
    user: text("GitHub username to add (usually `$koding.userdata.github_username`).", true),
    role: { value: { kind: "enum", values: ["member", "maintainer"] }, doc: "Team role (default member)." },
    undo: {
      value: { kind: "boolean" },
      doc: "false: destroying the stack keeps the membership (by default it is removed).",
    },
  },
  run_script: {
    target_server: {
      value: {
        kind: "string",
        interpolated: false,
        pattern: /^[A-Za-z_][A-Za-z0-9_-]*$/,
        describe: "a server name",
      },
      required: true,
      doc: "The server the script runs on.",
    },
    script: text("Shell script; references are rendered first.", true),
    timeout: { value: { kind: "duration" }, doc: "How long the script may run (default 10m)." },
  },
  slack_msg: {
    msg: text("Message text.", true),
    channel: text("Channel name or id (required unless webhook_url is given)."),
    webhook_url: {
      value: { kind: "string", interpolated: false, pattern: /^https?:\/\/\S+$/, describe: "an http(s) URL" },
      doc: "An incoming-webhook URL to post to instead of the Web API.",
    },
  },
  send_tweet: {
    msg: text("Post text, at most 280 characters once rendered.", true),
  },
  webhook: {
    url: {
      value: {
        kind: "string",
        interpolated: true,
        pattern: /^(https?:\/\/\S+|\$.*)$/,
        describe: "an http(s) URL",
      },
      required: true,
      doc: "Where the JSON is posted.",
    },
    body: { value: { kind: "object", interpolated: true }, doc: "JSON body; string values are rendered." },
    headers: { value: { kind: "stringMap", interpolated: true }, doc: "Extra request headers." },
    secret: {
      value: {
        kind: "string",
        interpolated: false,
        pattern: /^[A-Za-z_][A-Za-z0-9_-]*$/,
        describe: "a secret name",
      },
      doc: "Name of the team secret that signs the body (HMAC-SHA256).",
    },
  },
};

export const TWEET_MAX = 280;

/** What a hook rule sees: one hook's parameters (those that passed their own checks) and the template. */
export interface HookRuleInput {
  readonly phase: TemplateHookPhase;
  readonly params: Readonly<Record<string, unknown>>;
  /** Whether every parameter passed its own check and every required one is there. */
  readonly complete: boolean;
  /** Whether the template has a server of this name. */
  hasServer(name: string): boolean;
  /** The template's servers for a message: "; servers are: a, b (did you mean `x`?)". */
  serverChoices(name: string): string;
}

/** A problem a hook rule found: at one parameter's value, or at the hook as a whole. */
export interface HookRuleProblem {
  readonly param?: string;
  readonly message: string;
}

export type HookRule = (hook: HookRuleInput) => readonly HookRuleProblem[];

/** Checks of a hook that look at more than one parameter, or at the template around the hook. */
const HOOK_RULES: Readonly<Partial<Record<HookType, HookRule>>> = {
  slack_msg: ({ params, complete }) =>
    complete && !("channel" in params) && !("webhook_url" in params)
      ? [{ message: "give `channel` (Slack Web API) or `webhook_url` (incoming webhook)" }]
      : [],
  send_tweet: ({ params }) => {
    // A message with references is measured once rendered, by the hook itself.
    if (typeof params.msg !== "string" || findReferences(params.msg).length > 0) return [];
    const length = [...params.msg].length;
    return length > TWEET_MAX
      ? [{ param: "msg", message: `msg is ${length} characters; a post may have at most ${TWEET_MAX}` }]
      : [];
  },
  run_script: ({ params, phase, hasServer, serverChoices }) => {
    const target = params.target_server;
    if (typeof target !== "string") return [];
    if (phase === "pre") {
      return [
        {
          param: "target_server",
          message: "run_script cannot run in pre_hooks: no server exists yet; move it to post_hooks",
        },
      ];
    }
    return hasServer(target)
      ? []
      : [
          {
            param: "target_server",
            message: `target_server \`${target}\` is not a server of this template${serverChoices(target)}`,
          },
        ];
  },
};

/** One hook type, declared once: what validation, the JSON Schema, Prepare and the hook itself read. */
export interface HookDeclaration {
  /** Its own parameters (COMMON_HOOK_PARAMS come besides). */
  readonly params: Readonly<Record<string, FieldSpec>>;
  /** Checks that look at more than one parameter, or at the template around the hook. */
  readonly rule?: HookRule;
  /** The team secrets it reads, by name. */
  readonly secrets: readonly string[];
  /** A parameter whose value names one more team secret it reads (webhook's `secret`). */
  readonly secretParam?: string;
}

/** The team secrets each hook type reads by name (HOOKS[type].secrets; typed by name for the hooks). */
export const HOOK_TEAM_SECRETS = {
  add_github_user: ["github_token"],
  slack_msg: ["slack_token"],
  send_tweet: ["x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret"],
  webhook: ["webhook_secret"],
  run_script: [],
} as const satisfies Readonly<Record<HookType, readonly string[]>>;

const hook = (type: HookType, extra: Partial<HookDeclaration> = {}): HookDeclaration => ({
  params: HOOK_PARAMS[type],
  secrets: HOOK_TEAM_SECRETS[type],
  ...(HOOK_RULES[type] ? { rule: HOOK_RULES[type] } : {}),
  ...extra,
});

/** Every hook type's declaration. */
export const HOOKS: Readonly<Record<HookType, HookDeclaration>> = {
  add_github_user: hook("add_github_user"),
  run_script: hook("run_script"),
  slack_msg: hook("slack_msg"),
  send_tweet: hook("send_tweet"),
  webhook: hook("webhook", { secretParam: "secret" }),
};

/** The team secrets one hook reads: its type's, and the one a parameter names. */
export function hookSecretNames(type: HookType, params: Readonly<Record<string, unknown>>): string[] {
  const declared = HOOKS[type];
  const named = declared.secretParam !== undefined ? params[declared.secretParam] : undefined;
  return [...declared.secrets, ...(typeof named === "string" ? [named] : [])];
}

const SIZE_PART = /^(\d+(?:\.\d+)?)(cpu|gb-ram|mb-ram|gb-disk)$/;

/** A portable size such as `4gb-ram/40gb-disk` or `2cpu/4gb-ram`. */
export interface PortableSize {
  readonly cpu?: number;
  readonly ramMb?: number;
  readonly diskGb?: number;
}

/** Parses a portable size; returns a message saying what is wrong when it is not one. */
export function parsePortableSize(type: string): PortableSize | string {
  const parts = type.split("/");
  const size: { cpu?: number; ramMb?: number; diskGb?: number } = {};
  for (const part of parts) {
    const m = SIZE_PART.exec(part);
    if (!m) return `\`${part}\` is not a size part; expected NCPU, Ngb-ram, Nmb-ram or Ngb-disk`;
    const n = Number(m[1]);
    const unit = m[2];
    const key = unit === "cpu" ? "cpu" : unit === "gb-disk" ? "diskGb" : "ramMb";
    if (size[key] !== undefined) return `\`${type}\` gives ${key === "ramMb" ? "ram" : unit} twice`;
    if (n <= 0) return `\`${part}\` must be more than zero`;
    size[key] = unit === "gb-ram" ? n * 1024 : n;
  }
  return size;
}

/** True when `type` looks like a portable size (even a malformed one): it has a `-ram`/`-disk`/`cpu` part. */
export function looksPortable(type: string): boolean {
  return /(\d(cpu|gb-ram|mb-ram|gb-disk))(\/|$)/.test(type) || type.includes("/");
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Seconds in a duration such as `90s`, `10m`, `1h30m`, or a number of seconds; undefined if not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = DURATION.exec(value);
  if (!m || value === "") return undefined;
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return seconds > 0 ? seconds : undefined;
}
