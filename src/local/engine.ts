import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { recordedPublisher } from "../adapters/recorded-publisher.ts";
import { providerCatalog } from "../core/providers.ts";
import { providerCredentials } from "../credentials/provider-credentials.ts";
import { createHookRunner } from "../hooks/runner.ts";
import type { PipelineDeps } from "../pipeline/context.ts";
import * as destroySteps from "../pipeline/destroy.ts";
import { ProviderUnavailableError } from "../pipeline/errors.ts";
import type { ExpiryAction } from "../pipeline/expiry.ts";
import * as powerSteps from "../pipeline/power.ts";
import { purgeExpired } from "../pipeline/purge.ts";
import * as steps from "../pipeline/steps.ts";
import type { Executions, Readiness, TaskTokens } from "../ports/orchestration.ts";
import type { ProviderModule } from "../ports/provider.ts";
import type { Rollouts } from "../ports/rollouts.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { ServerLogs } from "../ports/server-logs.ts";
import type { StackEvent, StackKey, Store } from "../ports/store.ts";
import { type ProviderSet, providerSet } from "../providers/provider-set.ts";
import { PROVIDER_MODULES } from "../providers/registry.ts";
import { createLocalSecrets } from "../secrets/local-secrets.ts";
import { createDynamoRolloutStore } from "../store/dynamo/rollouts.ts";
import { createDynamoStore } from "../store/dynamo-store.ts";
import { createDynamoRateBudget } from "../store/rate-budget.ts";
import {
  type ExecutionOutcome,
  type LoadedMachine,
  loadMachine,
  runMachine,
  startingAt,
  type TaskFunction,
  TokenRegistry,
  UnboundTaskError,
} from "./asl-runner.ts";
import { type LocalConfig, localConfig } from "./config.ts";
import { StoreLostError } from "./dynamo/errors.ts";
import { isRunning, storePaths } from "./dynamo/files.ts";
import { ensureLocalStore } from "./dynamo.ts";
import { eventOrder } from "./event-order.ts";
import { createFileServerLogs, removeStackLogs } from "./server-logs.ts";

export { ProviderUnavailableError };

/**
 * The local runtime: the real ASL files run by aws-local-stepfunctions in this process, every
 * Task bound to the same task functions the Lambdas call, the store in the state directory's
 * dynalite, servers on the local and sim providers.
 */

/**
 * How an execution of the engine ended. `endedOutsideOnFailure`: it failed while holding its
 * stack's lock, past its OnFailure state (an uncatchable error such as States.DataLimitExceeded);
 * the engine then did what OnFailure does (see {@link openLocalEngine}).
 */
export type EngineOutcome = ExecutionOutcome & {
  readonly execution: string;
  readonly endedOutsideOnFailure?: true;
};

export interface LocalEngine {
  readonly store: Store;
  /** The rollouts `serve` runs, in the same table (not part of the task functions' store). */
  readonly rollouts: Rollouts;
  readonly stateDir: string;
  /** The state directory's secrets. */
  readonly secrets: Secrets;
  /** The providers this engine makes servers with, and the catalog its templates validate against. */
  readonly providers: ProviderSet;
  /** Servers' and hooks' logs, attempt by attempt (files under the state directory). */
  readonly logs: ServerLogs;
  /** Whether the execution holding a stack's lock still runs. */
  readonly executions: Executions;
  /** Runs the provision state machine for a stack to its end. */
  provision(key: StackKey, options?: RunHooks): Promise<EngineOutcome>;
  /** Runs the destroy state machine. */
  destroy(key: StackKey, options?: RunHooks): Promise<EngineOutcome>;
  /** Runs the power state machine: stops the stack's servers (processes end, files and addresses stay). */
  stop(key: StackKey, options?: RunHooks): Promise<EngineOutcome>;
  /** Runs the power state machine: starts the stack's servers again and runs their on_start. */
  start(key: StackKey, options?: RunHooks): Promise<EngineOutcome>;
  /**
   * Runs what a due expiry does (`teamstack serve`'s scheduler): the destroy machine for a ttl, the
   * power machine's stop for an auto_stop, with `expired` in the input so that the run checks it is
   * still due and records it.
   */
  expire(key: StackKey, action: ExpiryAction, at: string, options?: RunHooks): Promise<EngineOutcome>;
  /**
   * Redrives a failed provision execution of this process as the Step Functions console does:
   * same execution id, restarting at the state it failed in, with that state's input.
   */
  redrive(execution: string, options?: RunHooks): Promise<EngineOutcome>;
  /**
   * Stops every run of this engine where it is (Ctrl-C, a lost store): `provision`, `destroy` and
   * `redrive` reject with `reason`. The stack keeps its lock, which `rerun` takes over once this
   * process has exited. The engine runs nothing after this.
   */
  stopRuns(reason: Error): void;
  /** Stops readiness watchers and the store watch; running sandboxes keep running. */
  close(): Promise<void>;
  /**
   * Sees every stack event as it is recorded, like `onEvent`, from now until the returned function
   * is called (`teamstack serve`'s live stream).
   */
  subscribe(listener: (key: StackKey, event: StackEvent) => void): () => void;
}

/**
 * What the engine does when its store daemon exits: a long-lived process (`serve`) starts it
 * again and carries on (runs retry their store calls meanwhile); a one-shot command (`up`,
 * `rerun`, `down`) stops its runs with StoreLostError, so that it exits and says what to do.
 */
export type OnStoreLost = "restart" | "fail";

/** How often the engine checks that its store daemon still runs. */
const STORE_WATCH_MS = 500;
/** How long a failed execution's task functions may take to return before the engine cleans up without them. */
const SETTLE_MS = 300_000;

export interface RunHooks {
  /** Called on every Task state entered (progress, transition counts). */
  readonly onTransition?: (state: string) => void;
  /** Sees every event of the execution's history. */
  readonly onHistory?: (event: unknown) => void;
}

const machines = {
  provision: new URL("../../statemachines/provision.asl.json", import.meta.url),
  destroy: new URL("../../statemachines/destroy.asl.json", import.meta.url),
  power: new URL("../../statemachines/power.asl.json", import.meta.url),
};

/** This process's start time in clock ticks, so a reused pid is not taken for us. */
function startTicks(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Execution ids name the process that runs them: `local:PID:START:UUID`. */
function localExecutions(running: Set<string>): Executions {
  return {
    async isRunning(execution) {
      if (running.has(execution)) return true;
      const m = /^local:(\d+):(\d+):/.exec(execution);
      if (!m) return false;
      const pid = Number(m[1]);
      if (pid === process.pid) return false;
      return startTicks(pid) === m[2];
    },
  };
}

export async function openLocalEngine(options: {
  readonly stateDir: string;
  /** Sees every stack event as it is recorded (live progress). */
  readonly onEvent?: (key: StackKey, event: StackEvent) => void;
  /** Settings; from the environment by default. */
  readonly config?: LocalConfig;
  /** What to do when the store daemon exits (default `restart`). */
  readonly onStoreLost?: OnStoreLost;
  /** Says what the engine did on its own (the store started again, a failure it cleaned up after). */
  readonly log?: (line: string) => void;
  /** The provider modules (default: the registry's); those that run on the local runtime make servers. */
  readonly providers?: readonly ProviderModule[];
  /** ASL files to run instead of the project's (tests run variants). */
  readonly machines?: Partial<Record<keyof typeof machines, string | URL>>;
  /** The clock the purge of expired stacks reads at open (tests set it; default: now). */
  readonly now?: () => Date;
}): Promise<LocalEngine> {
  const { stateDir, onEvent } = options;
  const config = options.config ?? localConfig();
  const local = await ensureLocalStore(stateDir);
  const { client, tableName } = local;
  const stopper = new AbortController();
  const stopRuns = (reason: Error): void => {
    if (!stopper.signal.aborted) stopper.abort(reason);
  };
  const storeWatch = watchStore(stateDir, local.pid, options.onStoreLost ?? "restart", stopRuns, options.log);
  const base = createDynamoStore({ client, tableName });
  const listeners = new Set<(key: StackKey, event: StackEvent) => void>();
  // Every stack's events reach the listeners (the CLI's output, serve's streams) in seq order.
  const ordered = eventOrder((key, e) => {
    onEvent?.(key, e);
    for (const listener of listeners) listener(key, e);
  });
  const appendEvent: Store["appendEvent"] = (key, event) => ordered(key, () => base.appendEvent(key, event));
  const store: Store = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "appendEvent") return appendEvent;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  // The store has no TTL: destroyed stacks whose 30 days are over go now (src/pipeline/purge.ts),
  // their log files with them.
  for (const key of await purgeExpired(base, options.now?.() ?? new Date())) {
    await removeStackLogs(stateDir, key);
  }
  // Sim's account-wide create limit (`create_rate`) is shared by every process on this state directory.
  const budget = createDynamoRateBudget({ client, tableName });
  const registry = new TokenRegistry();
  const tokens: TaskTokens = {
    async sendSuccess(token, output) {
      registry.sendSuccess(token, output);
    },
    async sendFailure(token, error, cause) {
      registry.sendFailure(token, error, cause);
    },
  };
  const logs = createFileServerLogs(stateDir);
  const secrets = createLocalSecrets({ stateDir, ...(config.secretsKey ? { key: config.secretsKey } : {}) });
  const modules = options.providers ?? PROVIDER_MODULES;
  const credentials = providerCredentials({
    store,
    secrets,
    catalog: providerCatalog(modules.map((m) => m.declaration)),
  });
  const providers = providerSet({
    modules,
    runtime: "local-runtime",
    host: { stateDir, store, table: { client, tableName }, rateBudget: budget, logs, credentials },
    unavailable: (name) =>
      new ProviderUnavailableError(
        `the ${name} provider does not run locally; run with --simulate-provider ${name} to put its servers on ${providers.catalog.simulator?.name ?? "a simulator"} (or --simulate for every server)`,
      ),
  });
  const provider = (name: string) => providers.provider(name);
  const watchers = new AbortController();
  let deps: PipelineDeps;
  const readiness: Readiness = {
    async watch({ provider: name, ref, token, mask }) {
      // A server whose readiness is `callback` reports itself (POST /callbacks/ready/... on `serve`).
      if (providers.catalog.lookup(name)?.capabilities.readiness === "callback") return;
      provider(name)
        .waitUntilReady(ref, watchers.signal)
        .then(
          (result) => steps.settleReadiness(deps, token, result, mask),
          (error: unknown) => {
            if (!watchers.signal.aborted) {
              return steps.settleReadiness(
                deps,
                token,
                { ready: false, reason: (error as Error).message },
                mask,
              );
            }
            return undefined;
          },
        )
        .catch(() => undefined);
    },
  };
  const running = new Set<string>();
  const ticks = startTicks("self") ?? "0";
  deps = {
    store,
    provider,
    catalog: providers.catalog,
    tokens,
    readiness,
    executions: localExecutions(running),
    hooks: createHookRunner({
      store,
      provider,
      endpoints: config.hookEndpoints,
      egressAllow: config.egressAllow,
    }),
    events: recordedPublisher(store),
    secrets,
    logs,
    now: () => new Date(),
  };
  const functions: Record<string, TaskFunction> = {
    Prepare: (p) => steps.prepare(deps, p as never),
    WaitForDependencies: (p) => steps.waitForDependencies(deps, p as never),
    CreateServer: (p) => steps.createServer(deps, p as never),
    WaitUntilReady: (p) => steps.waitUntilReady(deps, p as never),
    PublishArtifacts: (p) => steps.publishArtifacts(deps, p as never),
    MarkServerFailed: (p) => steps.markServerFailed(deps, p as never),
    CheckServers: (p) => steps.checkServers(deps, p as never),
    RunHook: (p) => steps.runHook(deps, p as never),
    Finalize: (p) => steps.finalize(deps, p as never),
    OnFailure: (p) => steps.onFailure(deps, p as never),
    WaitForDependents: (p) => destroySteps.waitForDependents(deps, p as never),
    DestroyServer: (p) => destroySteps.destroyServer(deps, p as never),
    MarkDestroyFailed: (p) => destroySteps.markDestroyFailed(deps, p as never),
    CheckDestroyed: (p) => destroySteps.checkDestroyed(deps, p as never),
    CheckRemoved: (p) => destroySteps.checkRemoved(deps, p as never),
    Resume: (p) => steps.resume(deps, p as never),
    PreparePower: (p) => powerSteps.preparePower(deps, p as never),
    StopServer: (p) => powerSteps.stopServer(deps, p as never),
    StartServer: (p) => powerSteps.startServer(deps, p as never),
    RunOnStart: (p) => powerSteps.runOnStart(deps, p as never),
    MarkPowerFailed: (p) => powerSteps.markPowerFailed(deps, p as never),
    FinishPower: (p) => powerSteps.finishPower(deps, p as never),
    OnPowerFailure: (p) => powerSteps.onPowerFailure(deps, p as never),
  };
  const loaded = new Map<string, LoadedMachine>();
  const machineOf = (which: keyof typeof machines): LoadedMachine => {
    let machine = loaded.get(which);
    if (!machine) {
      machine = loadMachine(options.machines?.[which] ?? machines[which]);
      loaded.set(which, machine);
    }
    return machine;
  };
  // Where each failed execution of this process failed, for a redrive.
  const failed = new Map<string, { which: keyof typeof machines; state: { name: string; input: unknown } }>();
  const execute = async (
    which: keyof typeof machines,
    machine: LoadedMachine,
    input: Record<string, unknown>,
    execution: string,
    hooks?: RunHooks,
  ) => {
    running.add(execution);
    try {
      const { outcome, settled } = await runMachine(machine, input, {
        executionId: execution,
        functions,
        tokens: registry,
        signal: stopper.signal,
        ...(hooks?.onTransition ? { onTransition: hooks.onTransition } : {}),
        ...(hooks?.onHistory ? { onHistory: hooks.onHistory } : {}),
      });
      if (outcome.status === "FAILED") {
        const key = { team: String(input.team), stackId: String(input.stackId) };
        if ((await store.getStack(key))?.lock?.execution === execution) {
          failed.delete(execution);
          return endedOutsideOnFailure(which, key, { ...outcome, execution }, settled);
        }
      }
      if (outcome.status === "FAILED" && outcome.failedState)
        failed.set(execution, { which, state: outcome.failedState });
      else failed.delete(execution);
      return { ...outcome, execution };
    } finally {
      running.delete(execution);
    }
  };
  /**
   * An execution that failed still holding its stack's lock ended past its OnFailure state: a
   * terminal error (States.DataLimitExceeded, the history limit) or OnFailure failing itself. In AWS
   * the stack would stay RUNNING and locked. Here the execution is over, so once every task function
   * it started has returned the engine does what OnFailure does (applies on_failure, marks the stack
   * FAILED with the error, emits Stack Failed, releases the lock) and says so. Such an execution is
   * not redriven: its lock is gone, and `rerun` starts a new run.
   */
  const endedOutsideOnFailure = async (
    which: keyof typeof machines,
    key: StackKey,
    outcome: ExecutionOutcome & { status: "FAILED"; execution: string },
    settled: Promise<void>,
  ): Promise<EngineOutcome> => {
    const what = `execution ${outcome.execution} of stack \`${key.stackId}\` failed outside its OnFailure state with ${outcome.error}`;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      settled.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), SETTLE_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    if (!done) {
      options.log?.(
        `${what}; its tasks are still running, so the stack keeps its lock (a rerun takes it over)`,
      );
      return { ...outcome, endedOutsideOnFailure: true };
    }
    try {
      const error = {
        Error: outcome.error,
        Cause: `the execution failed outside its OnFailure state: ${outcome.error}: ${outcome.cause}`,
      };
      if (which === "power") {
        const action = (await store.getStack(key))?.status === "STOPPING" ? "stop" : "start";
        await powerSteps.onPowerFailure(deps, { ...key, execution: outcome.execution, action, error });
      } else {
        await steps.onFailure(deps, {
          ...key,
          execution: outcome.execution,
          error,
          ...(which === "destroy" ? { mode: "destroy" as const } : {}),
        });
      }
    } catch (error) {
      options.log?.(
        `${what}; marking the stack FAILED failed too (${(error as Error).message}); a rerun takes its lock over`,
      );
      return { ...outcome, endedOutsideOnFailure: true };
    }
    options.log?.(`${what}; the engine marked the stack FAILED and released its lock`);
    return {
      ...outcome,
      cause: `${outcome.cause} (the execution ended outside its OnFailure state; the engine marked the stack FAILED and released its lock)`,
      endedOutsideOnFailure: true,
    };
  };
  const run = (
    which: keyof typeof machines,
    key: StackKey,
    hooks?: RunHooks,
    extra: Record<string, unknown> = {},
  ) =>
    execute(
      which,
      machineOf(which),
      { team: key.team, stackId: key.stackId, ...extra },
      `local:${process.pid}:${ticks}:${randomUUID()}`,
      hooks,
    );
  return {
    subscribe(listener) {
      // Wrapped, so that one listener subscribed twice is two subscriptions.
      const one = (key: StackKey, event: StackEvent) => listener(key, event);
      listeners.add(one);
      return () => listeners.delete(one);
    },
    store,
    rollouts: createDynamoRolloutStore({ client, tableName }),
    stateDir,
    executions: deps.executions,
    secrets: deps.secrets,
    providers,
    logs,
    provision: (key, hooks) => run("provision", key, hooks),
    destroy: (key, hooks) => run("destroy", key, hooks),
    stop: (key, hooks) => run("power", key, hooks, { action: "stop" }),
    start: (key, hooks) => run("power", key, hooks, { action: "start" }),
    expire: (key, action, at, hooks) =>
      action === "destroy"
        ? run("destroy", key, hooks, { expired: { action, at } })
        : run("power", key, hooks, { action: "stop", expired: { action, at } }),
    async redrive(execution, hooks) {
      const f = failed.get(execution);
      if (!f)
        throw new UnboundTaskError(`execution ${execution} did not fail in this process; nothing to redrive`);
      const machine = startingAt(machineOf(f.which), f.state.name);
      return execute(f.which, machine, f.state.input as Record<string, unknown>, execution, hooks);
    },
    stopRuns,
    async close() {
      watchers.abort();
      storeWatch.stop();
    },
  };
}

/**
 * Watches the store daemon's process: when it exits, starts it again (`restart`: the socket's
 * path stays, so the client reaches the new one) or stops every run with StoreLostError (`fail`).
 */
function watchStore(
  stateDir: string,
  firstPid: number,
  mode: OnStoreLost,
  stopRuns: (reason: Error) => void,
  log: ((line: string) => void) | undefined,
): { stop(): void } {
  let pid = firstPid;
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    void (async () => {
      if (await isRunning(pid)) return;
      const gone = pid;
      if (mode === "fail") {
        stopped = true;
        clearInterval(timer);
        stopRuns(
          new StoreLostError(
            `the local store stopped: its daemon (pid ${gone}) exited; see ${storePaths(stateDir).log}`,
          ),
        );
        return;
      }
      const again = await ensureLocalStore(stateDir);
      again.close(); // this engine's own client reaches the new daemon on the same socket
      pid = again.pid;
      log?.(`the local store daemon (pid ${gone}) exited; started it again (pid ${pid})`);
    })()
      .catch((err: unknown) => log?.(`the local store could not be started again: ${(err as Error).message}`))
      .finally(() => {
        busy = false;
      });
  }, STORE_WATCH_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
