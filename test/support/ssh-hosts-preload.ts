import { readFileSync } from "node:fs";
import type { ProviderCredentials, ProviderHost, ProviderModule } from "../../src/ports/provider.ts";
import { PROVIDER_MODULES } from "../../src/providers/registry.ts";

// Preloaded (node --import) by the `teamstack` commands of the end-to-end ssh tests: see
// registerSshHost in ssh-hosts.ts. Gives the registry's ssh module the test's hosts as its
// credentials where the runtime gives it none.

const file = process.env.TEAMSTACK_TEST_SSH_HOSTS;
if (file) {
  const table = JSON.parse(readFileSync(file, "utf8")) as Record<
    string,
    Record<string, Record<string, string>>
  >;
  const credentials: ProviderCredentials = {
    async get(team, name, provider) {
      const fields = provider === "ssh" ? table[team]?.[name] : undefined;
      return fields ? { team, name, provider, fields } : undefined;
    },
    async list(team, provider) {
      return provider === "ssh" ? Object.keys(table[team] ?? {}).sort() : [];
    },
  };
  const withHosts = (host: ProviderHost): ProviderHost => ({
    ...host,
    credentials: host.credentials ?? credentials,
  });
  const modules = PROVIDER_MODULES as ProviderModule[];
  const at = modules.findIndex((m) => m.declaration.name === "ssh");
  const ssh = modules[at] as ProviderModule;
  modules[at] = {
    declaration: ssh.declaration,
    load: async () => {
      const impl = await ssh.load();
      return {
        create: (host) => impl.create(withHosts(host)),
        preflight: async (request, host) => impl.preflight?.(request, withHosts(host)),
      };
    },
  };
}
