import type { HookRequest } from "../ports/hook.ts";
import { MissingSecretError } from "./errors.ts";

/**
 * Reads the team secrets a hook needs, at the last moment.
 * @throws MissingSecretError naming every secret that is not set (an empty value counts as unset).
 */
export async function requireSecrets<const N extends string>(
  request: HookRequest,
  names: readonly N[],
  needs: string,
): Promise<Record<N, string>> {
  const values = await Promise.all(names.map((name) => request.teamSecret(name)));
  const missing = names.filter((_, i) => !values[i]);
  // Some set and some not is a half-done configuration: an error, not a service left unconfigured.
  if (missing.length > 0)
    throw new MissingSecretError(request.team, missing, needs, missing.length < names.length);
  return Object.fromEntries(names.map((name, i) => [name, values[i]])) as Record<N, string>;
}

/** A string param, or undefined when it is absent or empty. */
export function stringParam(request: HookRequest, name: string): string | undefined {
  const value = request.params[name];
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : String(value);
  return text === "" ? undefined : text;
}
