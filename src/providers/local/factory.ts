import type { Provider, ProviderHost } from "../../ports/provider.ts";
import { ProviderRequestError } from "../errors.ts";
import { createLocalProvider } from "./local-provider.ts";
import { checkLocalSupport } from "./support.ts";

/** The `local` provider's implementation, loaded by the registry on first use. */

/**
 * Sandboxes under the local runtime's state directory.
 * @throws ProviderRequestError where there is no state directory (in AWS).
 */
export function create(host: ProviderHost): Provider {
  if (host.stateDir === undefined) {
    throw new ProviderRequestError(
      "the local provider keeps its sandboxes in a state directory; none was given",
    );
  }
  return createLocalProvider({ stateDir: host.stateDir });
}

/**
 * Refuses, before anything is created, a machine that cannot make sandboxes.
 * @throws SandboxUnsupportedError naming what is missing (bubblewrap, namespaces, util-linux).
 */
export async function preflight(): Promise<void> {
  await checkLocalSupport();
}
