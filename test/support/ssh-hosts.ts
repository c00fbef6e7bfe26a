import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * How the end-to-end tests give a team its ssh hosts: the one place to change when teamstack
 * registers them itself (`teamstack credentials set ...`: then register each host that way and
 * answer the environment unchanged).
 *
 * Until then, the hosts are written to a file of the state directory (0600: the test user's key
 * is already in the test's own files) and every `teamstack` the test runs preloads
 * ssh-hosts-preload.ts, which hands them to the ssh provider as the runtime's ProviderCredentials
 * (the port the runtime gives providers, src/ports/provider.ts) where the runtime gives none.
 */
export async function registerSshHost(
  stateDir: string,
  team: string,
  name: string,
  fields: Readonly<Record<string, string>>,
): Promise<NodeJS.ProcessEnv> {
  const file = join(stateDir, "test-ssh-hosts.json");
  const table = existsSync(file)
    ? (JSON.parse(await readFile(file, "utf8")) as Record<string, Record<string, Record<string, string>>>)
    : {};
  table[team] = { ...table[team], [name]: { ...fields } };
  await writeFile(file, JSON.stringify(table), { mode: 0o600 });
  const preload = new URL("./ssh-hosts-preload.ts", import.meta.url).href;
  return {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload}`.trim(),
    TEAMSTACK_TEST_SSH_HOSTS: file,
  };
}
