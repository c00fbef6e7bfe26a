import { providersInfo, providersText } from "../core/provider-info.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { type Command, UsageError } from "./command.ts";

/**
 * `teamstack providers [--json]`: every provider of the registry with what it supports (verbs,
 * options, sizes, readiness, user_data limit, credential fields), read from the declarations.
 */
export const providersCommand: Command = {
  name: "providers",
  summary: "List every provider with what it supports: verbs, options, sizes, readiness, credential fields.",
  usage: "teamstack providers [--json]",
  verbs: [],
  options: { json: { type: "boolean" } },
  help: [["--json", "Print a JSON array, one object per provider, in registry order."]],
  async run(values, args, io) {
    if (args.length > 0) throw new UsageError("providers takes no arguments");
    const infos = providersInfo(PROVIDERS);
    io.out(values.json ? `${JSON.stringify(infos, null, 2)}\n` : providersText(infos));
    return 0;
  },
};
