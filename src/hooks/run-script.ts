import { parseDuration } from "../core/capabilities.ts";
import type { ProviderName } from "../core/template.ts";
import type { HookRequest, HookResult } from "../ports/hook.ts";
import type { Provider } from "../ports/provider.ts";
import type { StackRuns } from "../ports/store.ts";

/** Output kept from a script, per run. */
export const MAX_SCRIPT_OUTPUT = 64 * 1024;

export interface RunScriptDeps {
  readonly store: Pick<StackRuns, "getServer">;
  readonly provider: (name: ProviderName) => Provider;
}

/**
 * `run_script`: runs `script` on `target_server` through that server's provider, which must have
 * come up; a non-zero exit fails the hook with the script's output.
 */
export async function runScript(deps: RunScriptDeps, request: HookRequest): Promise<HookResult> {
  const target = String(request.params.target_server);
  const server = await deps.store.getServer({ team: request.team, stackId: request.stackId }, target);
  if (!server?.artifacts?.Id || server.status !== "SUCCEEDED") {
    return {
      status: "FAILED",
      message: `target server \`${target}\` is not ready (${server?.status ?? "missing"})`,
    };
  }
  const timeout = request.params.timeout as string | number | undefined;
  const timeoutMs = ((timeout !== undefined ? parseDuration(timeout) : undefined) ?? 600) * 1000;
  const result = await deps.provider(server.provider as ProviderName).runScript(
    {
      team: request.team,
      stackId: request.stackId,
      server: target,
      id: server.artifacts.Id,
      ...(server.spec ? { options: server.spec.options } : {}),
    },
    String(request.params.script),
    { timeoutMs, maxOutputBytes: MAX_SCRIPT_OUTPUT },
  );
  const output = result.truncated
    ? `${result.output}\n[output truncated at ${MAX_SCRIPT_OUTPUT} bytes]`
    : result.output;
  return result.exitCode === 0
    ? { status: "SUCCEEDED", output, exitCode: 0 }
    : {
        status: "FAILED",
        output,
        exitCode: result.exitCode,
        message: `script exited ${result.exitCode} on ${target}`,
      };
}
