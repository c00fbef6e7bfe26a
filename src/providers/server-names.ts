import type { ReadyResult, ServerRef } from "../ports/provider.ts";
import { ProviderRequestError } from "./errors.ts";

/**
 * What the providers that name things after a server (a sandbox's directory, a container, a
 * directory on a host) accept as a stack id or a server name: the names teamstack makes, and
 * nothing a path or a command line could misread.
 */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

/**
 * Refuses a stack id or server name the provider cannot use.
 * @throws ProviderRequestError naming the provider, the value and what was expected.
 */
export function checkServerNames(provider: string, stackId: string, server: string): void {
  for (const [what, value] of [
    ["stack id", stackId],
    ["server name", server],
  ] as const) {
    if (!isSafeName(value)) {
      throw new ProviderRequestError(
        `the ${provider} provider cannot use the ${what} ${JSON.stringify(value)}: expected 1 to 128 letters, digits, \`_\`, \`.\` or \`-\`, not starting with \`.\` or \`-\``,
      );
    }
  }
}

/** waitUntilReady's answer for a server that does not exist (any more). */
export function serverGone(ref: ServerRef, detail: string): ReadyResult {
  return {
    ready: false,
    reason: `server \`${ref.server}\` (${ref.id || "id not recorded"}) does not exist: ${detail}`,
  };
}
