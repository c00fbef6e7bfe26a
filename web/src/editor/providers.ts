import { type ProviderCatalog, providerCatalog } from "../../../src/core/providers.ts";
import { awsDeclaration } from "../../../src/providers/aws/declaration.ts";
import { dockerDeclaration } from "../../../src/providers/docker/declaration.ts";
import { localDeclaration } from "../../../src/providers/local/declaration.ts";
import { simDeclaration } from "../../../src/providers/sim/declaration.ts";
import { sshDeclaration } from "../../../src/providers/ssh/declaration.ts";

/**
 * The providers' declarations for the browser: the pure halves of the registry's modules
 * (src/providers/registry.ts), without the factories, whose `import()`s a bundler would follow
 * into provider code and SDKs. A unit test checks that this list is the registry's, in its order.
 */
export const BROWSER_PROVIDERS: ProviderCatalog = providerCatalog([
  awsDeclaration,
  localDeclaration,
  simDeclaration,
  dockerDeclaration,
  sshDeclaration,
]);
