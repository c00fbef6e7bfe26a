import type { HookType, ProviderName } from "./template.ts";

/**
 * What each provider and each hook accepts: the single table that validation, the JSON Schema
 * test and the docs agree on.
 */

/** The kind of value a parameter or option takes. */
export type ValueKind =
  | {
      readonly kind: "string";
      readonly pattern?: RegExp;
      readonly describe?: string;
      readonly interpolated: boolean;
    }
  | { readonly kind: "integer"; readonly min: number; readonly max: number }
  | { readonly kind: "number"; readonly min: number; readonly max: number }
  | { readonly kind: "boolean" }
  | { readonly kind: "enum"; readonly values: readonly (string | boolean)[] }
  | { readonly kind: "fail" }
  | { readonly kind: "stringList"; readonly pattern?: RegExp; readonly describe?: string }
  | { readonly kind: "firewall" }
  | { readonly kind: "object"; readonly interpolated: boolean }
  | { readonly kind: "stringMap"; readonly interpolated: boolean }
  | { readonly kind: "duration" };

export interface FieldSpec {
  readonly value: ValueKind;
  readonly required?: boolean;
  readonly doc: string;
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

export const HOOK_PARAMS: Readonly<Record<HookType, Readonly<Record<string, FieldSpec>>>> = {
  add_github_user: {
    org: text("GitHub organization login.", true),
    team_name: text("Team slug within the organization.", true),
    user: text("GitHub username to add (usually `$koding.userdata.github_username`).", true),
    role: { value: { kind: "enum", values: ["member", "maintainer"] }, doc: "Team role (default member)." },
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

/** What a provider can do: the options it takes and the types it understands natively. */
export interface ProviderCapabilities {
  readonly options: Readonly<Record<string, FieldSpec>>;
  /** Provider-native machine types, besides portable sizes. */
  readonly nativeType: RegExp;
  readonly nativeTypeExample: string;
}

export const PROVIDER_CAPABILITIES: Readonly<Record<ProviderName, ProviderCapabilities>> = {
  aws: {
    nativeType: /^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9-]+$/,
    nativeTypeExample: "t3.micro",
    options: {
      region: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[a-z]{2}(-[a-z]+)+-\d$/,
          describe: "an AWS region",
        },
        doc: "AWS region (default: the team credential's region).",
      },
      ami: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^ami-[0-9a-f]{8,17}$/,
          describe: "an AMI id",
        },
        doc: "Image id (default: the newest Ubuntu LTS).",
      },
      credential: {
        value: {
          kind: "string",
          interpolated: false,
          pattern: /^[A-Za-z0-9_-]+$/,
          describe: "a credential name",
        },
        doc: "Name of the team credential to use (default: `default`).",
      },
      disk_gb: { value: { kind: "integer", min: 8, max: 16384 }, doc: "Root volume size in GB." },
      firewall: { value: { kind: "firewall" }, doc: "Inbound rules: port, protocol, from (CIDR)." },
      public_keys: {
        value: { kind: "stringList", pattern: /^(ssh-|ecdsa-)\S+ \S+/, describe: "an OpenSSH public key" },
        doc: "Extra SSH public keys.",
      },
    },
  },
  local: {
    nativeType: /^sandbox$/,
    nativeTypeExample: "sandbox",
    options: {},
  },
  sim: {
    nativeType: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    nativeTypeExample: "t3.micro",
    options: {
      boot_ms: {
        value: { kind: "integer", min: 0, max: 86_400_000 },
        doc: "Milliseconds from create to ready.",
      },
      fail: { value: { kind: "fail" }, doc: "`true`, `once` (first attempt only) or a failure rate 0..1." },
      seed: { value: { kind: "integer", min: 0, max: 2 ** 31 - 1 }, doc: "Seed for a failure rate." },
      // Limits and failures for tests and benchmarks (src/providers/sim.ts).
      fail_output_bytes: {
        value: { kind: "integer", min: 0, max: 1_000_000 },
        doc: "Bytes of output a failing user_data prints (long error messages).",
      },
      fail_destroy: { value: { kind: "fail" }, doc: "Whether destroying fails: like `fail`." },
      destroy_ms: {
        value: { kind: "integer", min: 0, max: 86_400_000 },
        doc: "Milliseconds a destroy takes.",
      },
      create_rate: {
        value: { kind: "number", min: 0.001, max: 10_000 },
        doc: "Creates per second allowed across every sim server of the deployment (an account-wide limit).",
      },
      create_burst: {
        value: { kind: "integer", min: 1, max: 10_000 },
        doc: "Creates allowed at once under `create_rate` (default 1).",
      },
    },
  },
};

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
