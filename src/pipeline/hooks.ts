import { referencedServers, renderCompiledValue } from "../core/compiled.ts";
import { maskValue } from "../core/mask.ts";
import { keepOutput } from "../ports/server-logs.ts";
import type { HookRecord } from "../ports/store.ts";
import { iso, keyOf, type PipelineDeps } from "./context.ts";
import { hookLabel, skipUndo, undoneLabel } from "./destroy-hooks.ts";
import { HookFailedError, HookRetryableError } from "./errors.ts";
import type { HookInput } from "./run.ts";
import { runSecrets } from "./secrets.ts";

export type { HookInput } from "./run.ts";

const MAX_HOOK_OUTPUT = 64 * 1024;

/**
 * RunHook: renders the hook's compiled params (from its own record, written by Prepare) and runs
 * it through the Hook port; records the outcome.
 */
export async function runHook(
  deps: Pick<PipelineDeps, "store" | "hooks" | "secrets" | "now" | "logs">,
  input: HookInput,
): Promise<void> {
  const key = keyOf(input);
  const hooks = await deps.store.listHooks(key);
  const own = hooks.find((h) => h.phase === input.phase && h.index === input.index);
  const spec = own?.spec;
  const context = own?.context;
  if (!spec || !context)
    throw new HookFailedError(`run ${input.run} has no compiled ${hookLabel(input.phase, input.index)}`);
  // An undo step whose hook never succeeded has nothing to undo.
  if (await skipUndo(deps, input, spec, hooks)) return;
  // Only the servers whose artifacts the params use are read (post_hooks may use any).
  const used = referencedServers(spec.params.holes.map((h) => h.text));
  const servers = await Promise.all(used.map((s) => deps.store.getServer(key, s)));
  const secret = await runSecrets(deps.secrets, key.team, context);
  const params = renderCompiledValue(spec.params, {
    servers: Object.fromEntries(used.map((s, i) => [s, servers[i]?.artifacts])),
    secrets: secret.userdata,
  }) as Record<string, unknown>;
  // Hooks run in order: one whose predecessor failed does not run (a Map may start the next
  // iteration before it sees the failure).
  const blocker = hooks.find(
    (h) =>
      h.phase === input.phase &&
      h.index < input.index &&
      h.run === input.run &&
      h.status === "FAILED" &&
      !h.spec?.continueOnError,
  );
  if (blocker) {
    throw new HookFailedError(
      `${hookLabel(input.phase, input.index)} not run: ${hookLabel(input.phase, blocker.index)} failed`,
    );
  }
  const base: HookRecord = {
    ...key,
    phase: input.phase,
    index: input.index,
    type: spec.type,
    run: input.run,
    status: "RUNNING",
    spec,
    context,
  };
  const startedAt = iso(deps);
  await deps.store.putHook({ ...base, startedAt });
  const result = await deps.hooks.run({
    ...key,
    member: context.member,
    type: spec.type,
    phase: input.phase,
    index: input.index,
    params,
    teamSecret: (name) => deps.secrets.get({ team: key.team }, name),
  });
  // Whatever the hook printed or the service answered is masked before it is stored or thrown.
  const masked = maskValue({ output: result.output, message: result.message }, secret.mask);
  const output =
    masked.output && masked.output.length > MAX_HOOK_OUTPUT
      ? masked.output.slice(-MAX_HOOK_OUTPUT)
      : masked.output;
  if (masked.output !== undefined) {
    await keepOutput(
      deps.logs,
      { ...key, subject: { kind: "hook", name: `${input.phase}:${input.index}` } },
      "hook",
      masked.output,
      result.exitCode,
    );
  }
  await deps.store.putHook({
    ...base,
    status: result.status,
    startedAt,
    finishedAt: iso(deps),
    ...(output !== undefined ? { output } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(masked.message !== undefined ? { error: masked.message } : {}),
  });
  const what = `${hookLabel(input.phase, input.index)} ${spec.type}${undoneLabel(spec)}`;
  await deps.store.appendEvent(key, {
    type: "HookFinished",
    message: `${what}: ${result.status.toLowerCase()}${masked.message ? ` (${masked.message})` : ""}`,
  });
  if (result.status !== "FAILED" || spec.continueOnError) return;
  const message = `${what} failed: ${masked.message ?? `exit code ${result.exitCode}`}`;
  throw result.retryable ? new HookRetryableError(message) : new HookFailedError(message);
}
