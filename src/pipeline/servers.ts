import { type CompiledServer, referencedServers, renderCompiledText } from "../core/compiled.ts";
import type { ProviderName } from "../core/template.ts";
import type { ServerRef } from "../ports/provider.ts";
import type { RunContext, ServerRecord, WaitRelease } from "../ports/store.ts";
import { causeMessage, iso, keyOf, type PipelineDeps, serversLeft } from "./context.ts";
import {
  ProviderFailedError,
  ServersFailedError,
  TemplateInvalidError,
  UserDataFailedError,
} from "./errors.ts";
import type { FailureInput, RunInput, ServerInput, TokenInput } from "./run.ts";
import { runSecrets } from "./secrets.ts";

export type { FailureInput, RunInput, ServerInput, TokenInput } from "./run.ts";

/**
 * The tasks of one server's iteration (and DestroyServer). Each reads the server's own record,
 * written by Prepare with its compiled spec, and never the template; each is safe to run again
 * with the same input (Retry, redrive, a rerun after a crash).
 */

/** How a provider finds a server: its id, its idempotency token and its compiled options. */
export function refOf(rec: ServerRecord): ServerRef {
  return {
    team: rec.team,
    stackId: rec.stackId,
    server: rec.name,
    id: rec.artifacts?.Id ?? "",
    ...(rec.idempotencyToken ? { token: rec.idempotencyToken } : {}),
    ...(rec.spec ? { options: rec.spec.options } : {}),
  };
}

/**
 * The compiled spec and run context on a server's record.
 * @throws TemplateInvalidError when Prepare did not write them (a record from before specs).
 */
function compiledOf(rec: ServerRecord): { spec: CompiledServer; context: RunContext } {
  if (!rec.spec || !rec.context) {
    throw new TemplateInvalidError(
      `server \`${rec.name}\` of stack \`${rec.stackId}\` has no compiled spec on its record; rerun the stack so that Prepare records it`,
    );
  }
  return { spec: rec.spec, context: rec.context };
}

/** Sends a parked wait token back; the store tells exactly one caller to. */
async function release(deps: Pick<PipelineDeps, "tokens">, r: WaitRelease, server: string): Promise<void> {
  if (r.outcome === "success") await deps.tokens.sendSuccess(r.token, { server });
  else
    await deps.tokens.sendFailure(
      r.token,
      "DependencyFailedError",
      `skipped: dependency \`${r.failedDep}\` did not become ready`,
    );
}

/**
 * Parks a wait's token on the server's record (the store's wait protocol, provision's and
 * destroy's alike): when nothing is pending any more, this caller is the one told to send it back.
 */
export async function parkWaitToken(
  deps: Pick<PipelineDeps, "store" | "tokens">,
  input: TokenInput,
  send: (r: WaitRelease) => Promise<void>,
  waiting: (pending: readonly string[]) => string,
): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.setWaitToken(key, input.server, input.run, input.token);
  if (rec.run !== input.run) return;
  if (rec.release) {
    await send(rec.release);
  } else {
    await deps.store.appendEvent(key, {
      type: "ServerWaiting",
      server: input.server,
      message: waiting(rec.pending),
    });
  }
}

/**
 * WaitForDependencies: parks the token on the server's record. Whoever completes "no pending
 * dependency and a token present" sends the token back, this task or the last dependency's
 * PublishArtifacts; sending twice is harmless.
 */
export async function waitForDependencies(
  deps: Pick<PipelineDeps, "store" | "tokens">,
  input: TokenInput,
): Promise<void> {
  await parkWaitToken(
    deps,
    input,
    (r) => release(deps, r, input.server),
    (pending) => `${input.server} waits for ${pending.join(", ")}`,
  );
}

/** CreateServer: records the idempotency token, then asks the provider; a retry finds the same server. */
export async function createServer(
  deps: Pick<PipelineDeps, "store" | "provider" | "secrets" | "now">,
  input: ServerInput,
): Promise<CreatedServer> {
  const key = keyOf(input);
  let rec = await deps.store.getServer(key, input.server);
  if (!rec || rec.run !== input.run)
    throw new ProviderFailedError(`server \`${input.server}\` is not part of run ${input.run}`);
  if (rec.status === "SUCCEEDED") return { onStart: hasOnStart(rec.spec) };
  const { spec, context } = compiledOf(rec);
  const provider = deps.provider(rec.provider as ProviderName);
  // A server that failed in an earlier attempt is replaced, never kept beside the new one; so is
  // one an update replaces (its record keeps `replace` until the new attempt is recorded, so a
  // crash in between destroys the old copy on the rerun, never leaves it behind).
  if (
    rec.replace ||
    rec.status === "FAILED" ||
    rec.status === "SKIPPED" ||
    rec.status === "DESTROYED" ||
    !rec.idempotencyToken
  ) {
    if ((rec.replace || rec.status === "FAILED") && (rec.artifacts?.Id || rec.idempotencyToken)) {
      if (rec.replace) {
        await deps.store.appendEvent(key, {
          type: "ServerReplacing",
          server: input.server,
          message: `${input.server}: destroying the copy that exists (${rec.artifacts?.Id ?? "id not recorded"}) to create it again`,
        });
      }
      // The provider of the copy that exists: an update may move a server to another provider.
      const old = rec.replace ?? { provider: rec.provider, options: rec.spec?.options };
      await deps.provider(old.provider as ProviderName).destroy({
        ...refOf(rec),
        ...(old.options ? { options: old.options } : {}),
      });
    }
    const attempt = rec.attempt + 1;
    rec = await deps.store.updateServer(key, input.server, {
      status: "CREATING",
      attempt,
      idempotencyToken: `${key.stackId}.${input.server}.${attempt}`,
      artifacts: undefined,
      createdRun: input.run,
      startedAt: iso(deps),
      readyAt: undefined,
      error: undefined,
      replace: undefined,
    });
  } else if (rec.status !== "CREATING") {
    rec = await deps.store.updateServer(key, input.server, {
      status: "CREATING",
      startedAt: iso(deps),
      error: undefined,
    });
  }
  await deps.store.appendEvent(key, {
    type: "ServerCreating",
    server: input.server,
    message: `${input.server}: creating`,
  });
  // Only the dependencies whose artifacts user_data uses are read.
  const used = referencedServers([spec.userData]);
  const artifacts = await Promise.all(used.map((d) => deps.store.getServer(key, d)));
  const secret = await runSecrets(deps.secrets, key.team, context, { team: false });
  const userData = renderCompiledText(spec.userData, {
    servers: Object.fromEntries(used.map((d, i) => [d, artifacts[i]?.artifacts])),
    secrets: secret.userdata,
  });
  const created = await provider.create({
    stackId: key.stackId,
    team: key.team,
    member: context.member,
    server: input.server,
    type: spec.type,
    options: spec.options,
    userData,
    idempotencyToken: rec.idempotencyToken as string,
    secrets: Object.values(secret.userdata),
  });
  await deps.store.updateServer(key, input.server, { artifacts: { ...created } });
  return { onStart: hasOnStart(spec) };
}

/**
 * What CreateServer tells its iteration (small and fixed, whatever the server): whether the server
 * has an `on_start` to run once it is ready. The iteration skips RunOnStart, and its Lambda call,
 * for the servers that have none.
 */
export interface CreatedServer {
  readonly onStart: boolean;
}

function hasOnStart(spec: CompiledServer | undefined): boolean {
  return (spec?.onStart?.length ?? 0) > 0;
}

/** WaitUntilReady: parks the token and has readiness (user_data finished) settle it. */
export async function waitUntilReady(
  deps: Pick<PipelineDeps, "store" | "readiness" | "secrets">,
  input: TokenInput,
): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.updateServer(key, input.server, { readyToken: input.token });
  // user_data's output may echo a secret: what settles the token masks it first.
  const { mask } = await runSecrets(deps.secrets, key.team, rec.context);
  await deps.readiness.watch({
    provider: rec.provider as ProviderName,
    ref: refOf(rec),
    token: input.token,
    mask,
  });
}

/** PublishArtifacts: the server is ready; its dependents lose one pending dependency each. */
export async function publishArtifacts(
  deps: Pick<PipelineDeps, "store" | "tokens" | "now">,
  input: ServerInput,
): Promise<void> {
  const key = keyOf(input);
  const rec = await deps.store.updateServer(key, input.server, {
    status: "SUCCEEDED",
    readyAt: iso(deps),
    readyToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: "ServerReady",
    server: input.server,
    message: `${input.server}: ready at ${rec.artifacts?.IP ?? "?"} (${rec.artifacts?.Id ?? "?"})`,
  });
  await Promise.all(
    rec.dependents.map(async (d) => {
      const after = await deps.store.removePending(key, d, input.run, input.server);
      if (after.release) await release(deps, after.release, d);
    }),
  );
}

/** MarkServerFailed: records why, and fails the waits of every server depending on this one. */
export async function markServerFailed(
  deps: Pick<PipelineDeps, "store" | "tokens" | "secrets">,
  input: FailureInput,
): Promise<void> {
  const key = keyOf(input);
  const skipped = input.error.Error === "DependencyFailedError";
  const before = await deps.store.getServer(key, input.server);
  const { mask } = await runSecrets(deps.secrets, key.team, before?.context);
  const reason = mask(
    input.error.Error === "States.Timeout"
      ? "did not become ready within server_timeout"
      : causeMessage(input.error.Cause),
  );
  const rec = await deps.store.updateServer(key, input.server, {
    status: skipped ? "SKIPPED" : "FAILED",
    error: reason,
    readyToken: undefined,
  });
  await deps.store.appendEvent(key, {
    type: skipped ? "ServerSkipped" : "ServerFailed",
    server: input.server,
    message: `${input.server}: ${reason}`,
  });
  await Promise.all(
    rec.dependents.map(async (d) => {
      const after = await deps.store.setFailedDep(key, d, input.run, input.server);
      if (after.release) await release(deps, after.release, d);
    }),
  );
}

/** Servers in the template's order (records without a spec last, by name). */
export function inTemplateOrder(servers: readonly ServerRecord[]): ServerRecord[] {
  const rank = (s: ServerRecord) => s.spec?.index ?? Number.MAX_SAFE_INTEGER;
  return [...servers].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** CheckServers: every server of the stack is ready, or the run fails naming those that are not. */
export async function checkServers(deps: Pick<PipelineDeps, "store">, input: RunInput): Promise<void> {
  const key = keyOf(input);
  const bad = inTemplateOrder(await deps.store.listServers(key)).filter(
    (r) => r.status !== "SUCCEEDED" && !r.removed,
  );
  if (bad.length > 0) throw new ServersFailedError(serversLeft(bad, "not ready"));
}

/** The readiness of a server settles its WaitUntilReady token (used by the local watcher). */
export async function settleReadiness(
  deps: Pick<PipelineDeps, "tokens">,
  token: string,
  result: { ready: true } | { ready: false; reason: string; exitCode?: number; output?: string },
  mask: (text: string) => string = (t) => t,
): Promise<void> {
  if (result.ready) await deps.tokens.sendSuccess(token, {});
  else {
    const tail = result.output ? `\n${mask(result.output.slice(-2000))}` : "";
    await deps.tokens.sendFailure(
      token,
      new UserDataFailedError(result.reason).name,
      `${mask(result.reason)}${result.exitCode !== undefined ? ` (exit code ${result.exitCode})` : ""}${tail}`,
    );
  }
}
