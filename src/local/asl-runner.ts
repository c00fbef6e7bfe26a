import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { ExecutionError, StateMachine } from "aws-local-stepfunctions";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import {
  boundedFailure,
  checkPayload,
  currentHistory,
  HISTORY_EVENTS,
  type HistoryReport,
  runWithLimits,
} from "./limits.ts";

/**
 * Runs our ASL files on one machine with aws-local-stepfunctions, binding every Task to a local
 * function by the Lambda it names (`${PrepareFunctionArn}` → `Prepare`). `.waitForTaskToken`
 * tasks get a fresh token each time, handed to the function in place of `$$.Task.Token`; the
 * state waits until someone settles that token through the registry, as in AWS. Step Functions'
 * payload and history limits hold as in AWS (see limits.ts).
 */

export type TaskFunction = (payload: Record<string, unknown>) => Promise<unknown>;

const WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken";
const PLACEHOLDER = /^\$\{([A-Za-z0-9]+)FunctionArn\}$/;
const TOKEN_PLACEHOLDER = "local-task-token";

/** A task failure as the state machine sees it: `name` is what Retry and Catch match. */
export class TaskFailure extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** How a task token was settled: its output, or the failure the state sees. */
export type Settlement =
  | { readonly ok: true; readonly output: unknown }
  | { readonly ok: false; readonly error: TaskFailure };

/**
 * Pending task tokens of this process; `sendSuccess`/`sendFailure` settle them.
 *
 * A settlement is a value, never a rejected promise: a dependency may fail a token while the task
 * function that parked it is still running (WaitForDependencies writing its event), before anyone
 * awaits the settlement, and Node ends the process on a rejection nobody listens to yet.
 */
export class TokenRegistry {
  readonly #pending = new Map<string, (s: Settlement) => void>();

  /** A fresh token and the promise its settlement resolves. */
  create(): { token: string; settled: Promise<Settlement> } {
    const token = `local:${randomUUID()}`;
    const settled = new Promise<Settlement>((resolve) => this.#pending.set(token, resolve));
    return { token, settled };
  }

  /** Settles a token with success; false when it is unknown or settled already (as SFN's TaskTimedOut). */
  sendSuccess(token: string, output: unknown): boolean {
    return this.#settle(token, { ok: true, output });
  }

  sendFailure(token: string, error: string, cause: string): boolean {
    return this.#settle(token, { ok: false, error: new TaskFailure(error, cause) });
  }

  /**
   * Forgets a token whose state gave up (timeout, abort, its execution ended): whoever still
   * awaits it sees `States.TaskFailed`, so nothing stays parked for ever.
   */
  drop(token: string): void {
    this.#settle(token, {
      ok: false,
      error: new TaskFailure("States.TaskFailed", "the task token was dropped: its state gave up waiting"),
    });
  }

  get size(): number {
    return this.#pending.size;
  }

  #settle(token: string, settlement: Settlement): boolean {
    const resolve = this.#pending.get(token);
    if (!resolve) return false;
    this.#pending.delete(token);
    resolve(settlement);
    return true;
  }
}

type State = Record<string, unknown> & { Type: string };
type Definition = { States: Record<string, State>; StartAt: string };

/** Every Task state of a definition, with nested Map and Parallel states. */
function* taskStates(def: Definition): Generator<[string, State]> {
  for (const [name, state] of Object.entries(def.States)) {
    if (state.Type === "Task") yield [name, state];
    const inner = (state.ItemProcessor ?? state.Iterator) as Definition | undefined;
    if (inner) yield* taskStates(inner);
    for (const branch of (state.Branches as Definition[] | undefined) ?? []) yield* taskStates(branch);
  }
}

/** Thrown when an ASL file names a function the local runtime has no handler for. */
export class UnboundTaskError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.UnboundTaskError;
  }
}

/** The function a Task state invokes: `Prepare` for `${PrepareFunctionArn}`. */
export function functionOf(state: State): { fn: string; waitsForToken: boolean } | undefined {
  if (state.Resource === WAIT_FOR_TOKEN) {
    const params = state.Parameters as { FunctionName?: string } | undefined;
    const m = PLACEHOLDER.exec(params?.FunctionName ?? "");
    return m ? { fn: m[1] as string, waitsForToken: true } : undefined;
  }
  const m = PLACEHOLDER.exec(String(state.Resource));
  return m ? { fn: m[1] as string, waitsForToken: false } : undefined;
}

export interface LoadedMachine {
  readonly definition: Definition;
  /** Function names the machine invokes. */
  readonly functions: ReadonlySet<string>;
  /** A redrive's copy starts mid-way, leaving the states before unreachable: not validated again. */
  readonly redrive?: boolean;
}

/**
 * Reads an ASL file for local runs. aws-local-stepfunctions reads `TimeoutSecondsPath` from the
 * state's input after `Parameters`, where AWS reads the state's input itself; for the Lambda
 * invoke integration that input is `{FunctionName, Payload}`, so a `$.X` path is pointed at
 * `$.Payload.X` (our ASL passes the timeouts in the payload too, so both read the same value).
 */
export function loadMachine(file: string | URL): LoadedMachine {
  const definition = JSON.parse(readFileSync(file, "utf8")) as Definition;
  const functions = new Set<string>();
  for (const [name, state] of taskStates(definition)) {
    const f = functionOf(state);
    if (!f) throw new UnboundTaskError(`Task state \`${name}\` names no \${XFunctionArn} to run locally`);
    functions.add(f.fn);
    const path = state.TimeoutSecondsPath;
    if (f.waitsForToken && typeof path === "string" && path.startsWith("$.")) {
      const key = path.slice(2);
      const payload = (state.Parameters as { Payload?: Record<string, unknown> }).Payload ?? {};
      if (payload[`${key}.$`] !== path) {
        throw new UnboundTaskError(`Task state \`${name}\`: pass ${path} in the Payload as \`${key}.$\` too`);
      }
      state.TimeoutSecondsPath = `$.Payload.${key}`;
    }
  }
  return { definition, functions };
}

/**
 * The machine as Step Functions redrives it: starting at `state`, the top-level state an
 * execution failed in (aws-local-stepfunctions has no redrive of its own).
 */
export function startingAt(machine: LoadedMachine, state: string): LoadedMachine {
  if (!machine.definition.States[state])
    throw new UnboundTaskError(`no top-level state \`${state}\` to redrive from`);
  return { ...machine, definition: { ...machine.definition, StartAt: state }, redrive: true };
}

export interface RunOptions {
  readonly executionId: string;
  readonly functions: Readonly<Record<string, TaskFunction>>;
  readonly tokens: TokenRegistry;
  /** Called when a Task state starts and ends, for progress and transition counts. */
  readonly onTransition?: (state: string) => void;
  /** Sees every event of the execution's history (what the console would show). */
  readonly onHistory?: (event: unknown) => void;
  /** Stops the execution where it is; `runMachine` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Events an execution history may hold (Step Functions' 25,000 by default; tests lower it). */
  readonly historyLimit?: number;
}

/**
 * How an execution ended; `transitions` counts states entered and retried, as Step Functions bills
 * them; `taskCalls` counts the task functions' invocations (retries included) by function name;
 * `history` the events of its execution history and of its Distributed Map children's.
 */
export type ExecutionOutcome = (
  | { readonly status: "SUCCEEDED"; readonly output: unknown }
  | {
      readonly status: "FAILED";
      readonly error: string;
      readonly cause: string;
      /** The top-level state the execution failed in, and its input: where a redrive restarts. */
      readonly failedState?: { readonly name: string; readonly input: unknown };
    }
) & {
  readonly transitions: number;
  readonly taskCalls: Readonly<Record<string, number>>;
  readonly history: HistoryReport;
};

/**
 * Runs a loaded machine to its end. `settled` resolves once every task function the execution
 * started has returned: an aborted Map iteration's task may still be running when the execution
 * has ended.
 * @throws the reason of `options.signal` when it stops the execution.
 */
export async function runMachine(
  machine: LoadedMachine,
  input: Record<string, unknown>,
  options: RunOptions,
): Promise<{ outcome: ExecutionOutcome; abort: () => void; settled: Promise<void> }> {
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  // Tokens of this execution still parked: a state that timed out leaves its handler waiting, and
  // the end of the execution lets it go.
  const parked = new Set<string>();
  const inflight = new Set<Promise<unknown>>();
  const taskCalls: Record<string, number> = {};
  for (const [name, state] of taskStates(machine.definition)) {
    const f = functionOf(state) as { fn: string; waitsForToken: boolean };
    const fn = options.functions[f.fn];
    if (!fn) throw new UnboundTaskError(`no local function for \`${f.fn}\` (state \`${name}\`)`);
    const call = async (raw: unknown): Promise<unknown> => {
      options.onTransition?.(name);
      taskCalls[f.fn] = (taskCalls[f.fn] ?? 0) + 1;
      currentHistory()?.add(f.waitsForToken ? HISTORY_EVENTS.callbackAttempt : HISTORY_EVENTS.lambdaAttempt);
      checkPayload(raw, `the input of task state \`${name}\` (after Parameters)`);
      let result: unknown;
      try {
        result = f.waitsForToken ? await callback(raw) : await fn(raw as Record<string, unknown>);
      } catch (error) {
        throw boundedFailure(error);
      }
      checkPayload(result ?? null, `the result of task state \`${name}\``);
      return result;
    };
    const callback = async (raw: unknown): Promise<unknown> => {
      const payload = (raw as { Payload: Record<string, unknown> }).Payload;
      const { token, settled } = options.tokens.create();
      parked.add(token);
      try {
        await fn({ ...payload, token });
        const settlement = await settled;
        if (!settlement.ok) throw settlement.error;
        return settlement.output;
      } finally {
        parked.delete(token);
        options.tokens.drop(token);
      }
    };
    handlers[name] = (raw) => {
      const running = call(raw);
      const tracked = running.catch(() => undefined);
      inflight.add(tracked);
      void tracked.then(() => inflight.delete(tracked));
      return running;
    };
  }
  const sm = new StateMachine(machine.definition as never, {
    validationOptions: (machine.redrive ? { noValidate: true } : { checkPaths: true }) as never,
  });
  const { result: execution, report } = runWithLimits(
    machine.definition,
    options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {},
    () =>
      sm.run(input as never, {
        overrides: { taskResourceLocalHandlers: handlers as never },
        context: {
          Execution: {
            Id: options.executionId,
            Name: options.executionId,
            Input: input,
            StartTime: new Date().toISOString(),
          },
          Task: { Token: TOKEN_PLACEHOLDER },
        } as never,
      }),
  );
  const abort = (): void => execution.abort();
  const onAbort = (): void => abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) abort();
  let transitions = 0;
  let failedState: { name: string; input: unknown } | undefined;
  const counted = (async () => {
    for await (const event of execution.eventLogs) {
      options.onHistory?.(event);
      if (event.type === "StateEntered" || event.type === "StateRetried") transitions++;
      if (
        event.type === "StateFailed" &&
        event.index === undefined &&
        machine.definition.States[event.state.name]
      ) {
        failedState = { name: event.state.name, input: event.state.input };
      }
    }
  })().catch(() => undefined);
  const settled = async (): Promise<void> => {
    while (inflight.size > 0) await Promise.all([...inflight]);
  };
  try {
    const output: unknown = await execution.result;
    await counted;
    return {
      outcome: { status: "SUCCEEDED", output, transitions, taskCalls, history: report() },
      abort,
      settled: settled(),
    };
  } catch (error) {
    await counted;
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof ExecutionError) {
      const cause = (error as { cause?: { name?: string; message?: string } }).cause;
      return {
        outcome: {
          status: "FAILED",
          error: cause?.name ?? "States.Runtime",
          cause: cause?.message ?? String(error),
          transitions,
          taskCalls,
          history: report(),
          ...(failedState ? { failedState } : {}),
        },
        abort,
        settled: settled(),
      };
    }
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    for (const token of parked) options.tokens.drop(token);
  }
}
