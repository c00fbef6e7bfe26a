import type { ShellCommand } from "../../ports/provider.ts";
import { readJsonFile } from "../../shared/state-files.ts";
import { ServerNotFoundError } from "../errors.ts";
import { SandboxNotRunningError } from "./errors.ts";
import { isAlive } from "./proc.ts";
import { asSandbox, enterArgs, type SandboxRecord, sandboxEnv, sandboxLayout } from "./sandbox.ts";
import { detectLocalSupport } from "./support.ts";

/**
 * The command that opens an interactive shell inside a local server's sandbox, entered exactly as
 * runScript enters it (nsenter into the sandbox init's user, mount, PID, UTS and IPC namespaces
 * and root, as the sandbox's uid, then setpriv: no capability, no_new_privs), with the caller's
 * terminal as its stdin, stdout and stderr. `TERM` is passed on; nothing else of the caller's
 * environment is.
 * @throws ServerNotFoundError when the server has no sandbox of that id; SandboxNotRunningError
 * when it is stopped or its holder is gone.
 */
export async function localShellCommand(
  stateDir: string,
  ref: { readonly stackId: string; readonly server: string; readonly id: string },
  term: string | undefined,
): Promise<ShellCommand> {
  const layout = sandboxLayout(stateDir, ref.stackId, ref.server);
  const record = await readJsonFile<SandboxRecord>(layout.record);
  if (record?.id !== ref.id) {
    throw new ServerNotFoundError(
      ref.stackId,
      ref.server,
      record ? `its sandbox is ${record.id}, not ${ref.id}` : `it has no sandbox`,
    );
  }
  if (record.stopped) {
    throw new SandboxNotRunningError(`server \`${ref.server}\` is stopped; start it first (teamstack start)`);
  }
  if (!(await isAlive(record.holder)) || !(await isAlive(record.holder.init))) {
    throw new SandboxNotRunningError(`the sandbox of server \`${ref.server}\` is not running`);
  }
  const support = await detectLocalSupport();
  const args = enterArgs(support, record.holder.init, 'cd -- "$HOME" 2>/dev/null || cd /\nexec "$0" -i');
  return {
    file: support.nsenter,
    args,
    options: {
      stdio: "inherit",
      cwd: "/",
      env: { ...sandboxEnv(record, support.bash), ...(term ? { TERM: term } : {}) },
      ...asSandbox(support, record),
    },
  };
}
