import { execFile } from "node:child_process";
import { BIN, cliEnv, ROOT } from "./cli.ts";

/**
 * Registers an ssh host for a team the way a user does: `teamstack credentials set NAME --provider
 * ssh` on the state directory, the private key on stdin (never on the command line), every other
 * field with `--field`. Answers the environment the test's `teamstack` commands run with.
 * @throws Error with the command's output when it fails.
 */
export async function registerSshHost(
  stateDir: string,
  team: string,
  name: string,
  fields: Readonly<Record<string, string>>,
): Promise<NodeJS.ProcessEnv> {
  const { privateKey, ...rest } = fields;
  const args = [
    BIN,
    "credentials",
    "set",
    name,
    "--team",
    team,
    "--provider",
    "ssh",
    "--state-dir",
    stateDir,
    ...Object.entries(rest).flatMap(([k, v]) => ["--field", `${k}=${v}`]),
    ...(privateKey !== undefined ? ["--secret-file", "privateKey=-"] : []),
  ];
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      process.execPath,
      args,
      { cwd: ROOT, env: cliEnv(), encoding: "utf8", timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`teamstack credentials set ${name} failed: ${stderr || stdout}`));
        else resolve();
      },
    );
    child.stdin?.end(privateKey ?? "");
  });
  return { ...process.env };
}
