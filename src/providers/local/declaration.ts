import type { ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `local` provider's declaration: servers are sandboxes on the machine that runs teamstack
 * (see README.md beside it). Pure: validation, the JSON Schema and the API read it.
 */
export const localDeclaration: ProviderDeclaration = {
  name: "local",
  // `virtualbox/localhost`: the seed's own spelling (its example template's servers).
  aliases: ["localhost", "virtualbox/localhost"],
  summary: "Sandboxes (bubblewrap) on the machine that runs teamstack, each with its own loopback address.",
  capabilities: {
    nativeType: /^sandbox$/,
    nativeTypeExample: "sandbox",
    sizes: {
      describe: "every size is a sandbox: sizes are accepted and not enforced",
      map: () => ({ type: "sandbox" }),
    },
    options: {},
    verbs: ["stop", "start", "shell"],
    readiness: "watch",
  },
  runsIn: ["local-runtime"],
  sharesHost: true,
};
