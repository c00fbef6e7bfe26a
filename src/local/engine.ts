import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ProviderName } from "../core/template.ts";
import { createHookRunner } from "../hooks/runner.ts";
import type { PipelineDeps } from "../pipeline/context.ts";
import { ProviderUnavailableError } from "../pipeline/errors.ts";
import * as steps from "../pipeline/steps.ts";
import type { Executions, Readiness, TaskTokens } from "../ports/orchestration.ts";
import type { Provider } from "../ports/provider.ts";
import type { Secrets } from "../ports/secrets.ts";
import type { StackEvent, StackKey, Store } from "../ports/store.ts";
import { createLocalProvider } from "../providers/local/local-provider.ts";
import { createSimProvider } from "../providers/sim.ts";
import { createLocalSecrets } from "../secrets/local-secrets.ts";
import { createDynamoStore } from "../store/dynamo-store.ts";
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
import { ensureLocalStore } from "./dynamo.ts";

export { ProviderUnavailableError };

/**
 * The local runtime: the real ASL files run by aws-local-stepfunctions in this process, every
 * Task bound to the same task functions the Lambdas call, the store in the state directory's
 * dynalite, servers on the local and sim providers.
 */

export interface LocalEngine {
  readonly store: Store;
  readonly stateDir: string;
  /** The state directory's secrets. */
  readonly secrets: Secrets;
  /** Whether the execution holding a stack's lock still runs. */
  readonly executions: Executions;
  /** Runs the provision state machine for a stack to its end. */
  provision(key: StackKey, options?: RunHooks): Promise<ExecutionOutcome & { execution: string }>;
  /** Runs the destroy state machine. */
  destroy(key: StackKey, options?: RunHooks): Promise<ExecutionOutcome & { execution: string }>;
  /**
   * Redrives a failed provision execution of this process as the Step Functions console does:
   * same execution id, restarting at the state it failed in, with that state's input.
   */
  redrive(execution: string, options?: RunHooks): Promise<ExecutionOutcome & { execution: string }>;
  /** Stops readiness watchers; running sandboxes keep running. */
  close(): Promise<void>;
}

export interface RunHooks {
  /** Called on every Task state entered (progress, transition counts). */
  readonly onTransition?: (state: string) => void;
  /** Sees every event of the execution's history. */
  readonly onHistory?: (event: unknown) => void;
}

const machines = {
  provision: new URL("../../statemachines/provision.asl.json", import.meta.url),
  destroy: new URL("../../statemachines/destroy.asl.json", import.meta.url),
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
}): Promise<LocalEngine> {
  const { stateDir, onEvent } = options;
  const config = options.config ?? localConfig();
  const { client, tableName } = await ensureLocalStore(stateDir);
  const base = createDynamoStore({ client, tableName });
  const appendEvent: Store["appendEvent"] = async (key, event) => {
    const e = await base.appendEvent(key, event);
    onEvent?.(key, e);
    return e;
  };
  const store: Store = new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "appendEvent") return appendEvent;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const registry = new TokenRegistry();
  const tokens: TaskTokens = {
    async sendSuccess(token, output) {
      registry.sendSuccess(token, output);
    },
    async sendFailure(token, error, cause) {
      registry.sendFailure(token, error, cause);
    },
  };
  const providers = new Map<ProviderName, Provider>();
  const provider = (name: ProviderName): Provider => {
    let p = providers.get(name);
    if (!p) {
      if (name === "local") p = createLocalProvider({ stateDir });
      else if (name === "sim") p = createSimProvider({ stateDir });
      else {
        throw new ProviderUnavailableError(
          "the aws provider does not run locally yet; run with --simulate-provider aws to put its servers on sim (or --simulate for every server)",
        );
      }
      providers.set(name, p);
    }
    return p;
  };
  const watchers = new AbortController();
  let deps: PipelineDeps;
  const readiness: Readiness = {
    async watch({ provider: name, ref, token, mask }) {
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
  const secrets = createLocalSecrets({ stateDir, ...(config.secretsKey ? { key: config.secretsKey } : {}) });
  const ticks = startTicks("self") ?? "0";
  deps = {
    store,
    provider,
    tokens,
    readiness,
    executions: localExecutions(running),
    hooks: createHookRunner({
      store,
      provider,
      endpoints: config.hookEndpoints,
      egressAllow: config.egressAllow,
    }),
    events: { publish: (event) => store.putOutboundEvent(event) },
    secrets,
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
    DestroyServer: (p) => steps.destroyServer(deps, p as never),
    Resume: (p) => steps.resume(deps, p as never),
  };
  const loaded = new Map<string, LoadedMachine>();
  const machineOf = (which: keyof typeof machines): LoadedMachine => {
    let machine = loaded.get(which);
    if (!machine) {
      machine = loadMachine(machines[which]);
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
      const { outcome } = await runMachine(machine, input, {
        executionId: execution,
        functions,
        tokens: registry,
        ...(hooks?.onTransition ? { onTransition: hooks.onTransition } : {}),
        ...(hooks?.onHistory ? { onHistory: hooks.onHistory } : {}),
      });
      if (outcome.status === "FAILED" && outcome.failedState)
        failed.set(execution, { which, state: outcome.failedState });
      else failed.delete(execution);
      return { ...outcome, execution };
    } finally {
      running.delete(execution);
    }
  };
  const run = (which: keyof typeof machines, key: StackKey, hooks?: RunHooks) =>
    execute(
      which,
      machineOf(which),
      { team: key.team, stackId: key.stackId },
      `local:${process.pid}:${ticks}:${randomUUID()}`,
      hooks,
    );
  return {
    store,
    stateDir,
    executions: deps.executions,
    secrets: deps.secrets,
    provision: (key, hooks) => run("provision", key, hooks),
    destroy: (key, hooks) => run("destroy", key, hooks),
    async redrive(execution, hooks) {
      const f = failed.get(execution);
      if (!f)
        throw new UnboundTaskError(`execution ${execution} did not fail in this process; nothing to redrive`);
      const machine = startingAt(machineOf(f.which), f.state.name);
      return execute(f.which, machine, f.state.input as Record<string, unknown>, execution, hooks);
    },
    async close() {
      watchers.abort();
    },
  };
}
