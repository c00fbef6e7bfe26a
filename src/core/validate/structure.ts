import { parseDuration } from "../capabilities.ts";
import { findReferences } from "../interpolate.ts";
import { DEFAULT_SETTINGS, type Settings, type VarValue } from "../template.ts";
import type { YNode } from "../yaml-tree.ts";
import type { ValidationContext } from "./context.ts";
import { describe } from "./hints.ts";
import { scalarOf } from "./values.ts";

/** The template's top level, its vars and its settings: structure checks with no cross-references. */

export const TOP_KEYS = ["vars", "settings", "pre_hooks", "servers", "post_hooks", "destroy_hooks"] as const;
const SETTINGS_KEYS = ["on_failure", "max_parallel", "server_timeout", "ttl", "auto_stop"] as const;

export function varsOf(ctx: ValidationContext, node: YNode): Record<string, VarValue> {
  const vars: Record<string, VarValue> = Object.create(null);
  if (node.kind === "scalar" && node.value === null) return vars;
  if (node.kind !== "map") {
    ctx.at(node.start, `vars: expected a mapping of names to values, found ${describe(node)}`);
    return vars;
  }
  for (const { key, value } of node.entries) {
    const name = String(key.value);
    if (!ctx.checkName(key, name, "var")) continue;
    if (value.kind !== "scalar" || value.value === null) {
      ctx.at(value.start, `vars.${name}: expected a string, number or boolean, found ${describe(value)}`);
      continue;
    }
    if (typeof value.value === "string" && findReferences(value.value).length > 0) {
      ctx.at(value.start, `vars.${name}: vars are plain values and cannot hold references`);
      continue;
    }
    vars[name] = value.value;
    ctx.vars.set(name, value.value);
  }
  return vars;
}

export function settingsOf(ctx: ValidationContext, node: YNode): Settings {
  if (node.kind !== "map") {
    ctx.at(node.start, `settings: expected a mapping, found ${describe(node)}`);
    return DEFAULT_SETTINGS;
  }
  const f = ctx.fields(node, "settings", SETTINGS_KEYS);
  let { onFailure, maxParallel, serverTimeoutSeconds } = DEFAULT_SETTINGS;
  if (f.on_failure) {
    const v = scalarOf(f.on_failure);
    if (v === "keep" || v === "rollback") onFailure = v;
    else
      ctx.at(
        f.on_failure.start,
        `settings.on_failure: expected keep or rollback, found ${describe(f.on_failure)}`,
      );
  }
  if (f.max_parallel) {
    const v = scalarOf(f.max_parallel);
    if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 1000) maxParallel = v;
    else
      ctx.at(
        f.max_parallel.start,
        `settings.max_parallel: expected a whole number from 1 to 1000, found ${describe(f.max_parallel)}`,
      );
  }
  if (f.server_timeout) {
    const v = scalarOf(f.server_timeout);
    const seconds = typeof v === "string" || typeof v === "number" ? parseDuration(v) : undefined;
    if (seconds !== undefined && seconds <= 86_400) serverTimeoutSeconds = seconds;
    else
      ctx.at(
        f.server_timeout.start,
        `settings.server_timeout: expected a duration such as 90s, 10m or 1h30m (at most 24h), found ${describe(f.server_timeout)}`,
      );
  }
  const ttlSeconds = f.ttl ? expiryDuration(ctx, f.ttl, "ttl") : undefined;
  const autoStopSeconds = f.auto_stop ? expiryDuration(ctx, f.auto_stop, "auto_stop") : undefined;
  return {
    onFailure,
    maxParallel,
    serverTimeoutSeconds,
    ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
    ...(autoStopSeconds !== undefined ? { autoStopSeconds } : {}),
  };
}

/** The longest `ttl` or `auto_stop` (a year: EventBridge Scheduler's one-time schedules go further, a stack should not). */
export const MAX_EXPIRY_SECONDS = 366 * 86_400;

/** `settings.ttl` and `settings.auto_stop`: durations such as 10s, 30m, 8h or 7d, at most a year. */
function expiryDuration(ctx: ValidationContext, node: YNode, name: "ttl" | "auto_stop"): number | undefined {
  const v = scalarOf(node);
  const seconds = typeof v === "string" || typeof v === "number" ? parseExpiry(v) : undefined;
  if (seconds !== undefined && seconds <= MAX_EXPIRY_SECONDS) return seconds;
  ctx.at(
    node.start,
    `settings.${name}: expected a duration such as 10s, 30m, 8h or 7d (at most 366d), found ${describe(node)}`,
  );
  return undefined;
}

const EXPIRY = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Seconds in an expiry duration: days, hours, minutes and seconds in that order (`7d`, `1d12h`,
 * `90s`), or a whole number of seconds; undefined if not one.
 */
export function parseExpiry(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = EXPIRY.exec(value);
  if (!m || value === "") return undefined;
  const seconds =
    Number(m[1] ?? 0) * 86_400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return seconds > 0 ? seconds : undefined;
}
