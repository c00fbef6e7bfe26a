import { AsyncLocalStorage } from "node:async_hooks";
import { ExecutionError, StateMachine } from "aws-local-stepfunctions";

/**
 * Step Functions' limits, enforced by the local runtime so that tests meet them before AWS does
 * (Step Functions service quotas, "Quotas related to state machine executions" and "... task
 * executions"):
 *
 * - **Payload**: 262,144 bytes (the UTF-8 of the JSON) for an execution's input, any state's input
 *   and output, a task's input after `Parameters` and its result. Past it the state fails with
 *   `States.DataLimitExceeded`, a terminal error: no Retry or Catch matches it, the execution fails
 *   (and its OnFailure state never runs).
 * - **History**: 25,000 events per execution history. Past it the execution fails; AWS names no
 *   error for it, so the local runtime reports `States.Runtime`, terminal as well. A Distributed
 *   Map's iterations are child executions with a history each; an Inline Map's iterations write
 *   into their parent's history.
 * - **Cause**: a task failure's cause is cut to 32,768 characters, as Step Functions keeps it.
 *
 * A terminal error in a Distributed Map's child execution fails the child, not the parent: the
 * parent's Map state fails with `States.ExceedToleratedFailureThreshold`, which its Catch may match.
 *
 * aws-local-stepfunctions has no hook for any of this, so {@link runWithLimits} wraps the library's
 * (private) `StateMachine#execute`: each execution, nested ones included, gets its state events
 * counted and its payloads measured, found through an AsyncLocalStorage frame that only runs
 * started here carry. Executions started without it run exactly as the library runs them.
 */

/** Step Functions' limits. */
export const AWS_LIMITS = {
  payloadBytes: 262_144,
  historyEvents: 25_000,
  causeChars: 32_768,
} as const;

/**
 * Events a state writes into its execution's history, approximately as Step Functions writes
 * them: what the local runtime counts against `historyEvents`.
 */
export const HISTORY_EVENTS = {
  /** ExecutionStarted and ExecutionSucceeded (or Failed, TimedOut, Aborted). */
  execution: 2,
  /** <Type>StateEntered, and <Type>StateExited when it leaves (a caught error leaves too). */
  stateEntered: 1,
  stateExited: 1,
  /** Each attempt of a Lambda task: LambdaFunctionScheduled, Started, Succeeded (or Failed, TimedOut). */
  lambdaAttempt: 3,
  /** Each attempt of a `.waitForTaskToken` task: TaskScheduled, Started, Submitted, Succeeded (or Failed). */
  callbackAttempt: 4,
  /** A Map state: MapStateStarted and MapStateSucceeded (or Failed). */
  map: 2,
  /** A Distributed Map's run, in the parent: MapRunStarted and MapRunSucceeded (or Failed). */
  mapRun: 2,
  /** Each iteration of an Inline Map, in the parent: MapIterationStarted and MapIterationSucceeded (or Failed). */
  inlineIteration: 2,
} as const;

/** A terminal Step Functions error: aws-local-stepfunctions lets no Retry or Catch match it. */
export class TerminalStatesError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(name: "States.DataLimitExceeded" | "States.Runtime", message: string) {
    super(message);
    this.name = name;
  }
}

/** The size Step Functions measures: the UTF-8 bytes of the JSON text. */
export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "null", "utf8");
}

/**
 * Checks a payload against the 256 KB limit.
 * @throws TerminalStatesError `States.DataLimitExceeded` naming `what` and both sizes.
 */
export function checkPayload(value: unknown, what: string): void {
  const bytes = payloadBytes(value);
  if (bytes > AWS_LIMITS.payloadBytes) throw dataLimitError(what, bytes);
}

function dataLimitError(what: string, bytes: number): TerminalStatesError {
  return new TerminalStatesError(
    "States.DataLimitExceeded",
    `${what} is ${bytes.toLocaleString("en")} bytes; Step Functions allows ${AWS_LIMITS.payloadBytes.toLocaleString("en")} (the UTF-8 of the JSON). This error is terminal: no Retry or Catch matches it, so the execution fails`,
  );
}

/** A task failure as Step Functions keeps it: the cause cut to 32,768 characters. */
export function boundedFailure(error: unknown): unknown {
  if (!(error instanceof Error) || error.message.length <= AWS_LIMITS.causeChars) return error;
  const bounded = new Error(error.message.slice(0, AWS_LIMITS.causeChars));
  bounded.name = error.name;
  return bounded;
}

/** One execution history and its approximate event count. */
export class History {
  #events: number = HISTORY_EVENTS.execution;
  /** What the history belongs to, for messages: `the execution`, `an iteration of Map \`Servers\``. */
  readonly label: string;
  readonly limit: number;
  constructor(label: string, limit: number) {
    this.label = label;
    this.limit = limit;
  }

  get events(): number {
    return this.#events;
  }

  /**
   * Counts events.
   * @throws TerminalStatesError `States.Runtime` once the history passes its limit.
   */
  add(events: number): void {
    this.#events += events;
    if (this.#events > this.limit) {
      throw new TerminalStatesError(
        "States.Runtime",
        `the execution history of ${this.label} passed ${this.limit.toLocaleString("en")} events (Step Functions' limit; counted approximately, per state entered and exited, task attempt and Map iteration); the execution fails`,
      );
    }
  }
}

/** The histories one run made: its own, and one per Distributed Map iteration. */
export interface HistoryReport {
  /** Events of the execution's own history. */
  readonly events: number;
  /** Distributed Map child executions (each with its own history). */
  readonly children: number;
  /** Events of the largest child history. */
  readonly largestChild: number;
}

type Definition = { readonly States: Record<string, { readonly Type: string } & Record<string, unknown>> };
interface MapInfo {
  readonly name: string;
  readonly distributed: boolean;
}

/** What one run shares with every execution nested in it. */
class Guard {
  /** Item processors of the definition's Map states, found again when the library runs them. */
  readonly maps = new WeakMap<object, MapInfo>();
  readonly historyLimit: number;
  children = 0;
  largestChild = 0;
  constructor(definition: Definition, historyLimit: number) {
    this.historyLimit = historyLimit;
    this.#index(definition);
  }

  #index(def: Definition): void {
    for (const [name, state] of Object.entries(def.States)) {
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | (Definition & { ProcessorConfig?: { Mode?: string } })
        | undefined;
      if (processor) {
        this.maps.set(processor, { name, distributed: processor.ProcessorConfig?.Mode === "DISTRIBUTED" });
        this.#index(processor);
      }
      for (const branch of (state.Branches as Definition[] | undefined) ?? []) this.#index(branch);
    }
  }
}

/** The execution a piece of library code runs in. */
interface Frame {
  readonly guard: Guard;
  readonly history: History;
  readonly definition: Definition;
  /** Result bytes of the Map state this execution is running, by state name. */
  readonly mapResults: Map<string, { bytes: number; readonly distributed: boolean }>;
}

const frames = new AsyncLocalStorage<Frame>();

/** The history the calling task counts into (undefined outside a limited run). */
export function currentHistory(): History | undefined {
  return frames.getStore()?.history;
}

type Logger = Record<string, (...args: unknown[]) => unknown>;
type Execute = (
  this: { definition: Definition },
  input: unknown,
  options: unknown,
  cleanup: unknown,
) => Promise<unknown>;

const PATCHED = Symbol.for("teamstack.limits");
const proto = StateMachine.prototype as unknown as { execute: Execute; [PATCHED]?: true };
if (!proto[PATCHED]) {
  const original = proto.execute;
  proto.execute = function (this: { definition: Definition }, input, options, cleanup) {
    const parent = frames.getStore();
    if (!parent) return original.call(this, input, options, cleanup);
    const map = parent.guard.maps.get(this.definition);
    let history = parent.history;
    if (map?.distributed) {
      parent.guard.children++;
      history = new History(`an iteration of Map \`${map.name}\``, parent.guard.historyLimit);
    } else if (map) {
      parent.history.add(HISTORY_EVENTS.inlineIteration);
    }
    const frame: Frame = { guard: parent.guard, history, definition: this.definition, mapResults: new Map() };
    instrument((options as { eventLogger: Logger }).eventLogger, frame);
    const result = frames.run(frame, () => original.call(this, input, options, cleanup));
    if (!map) return result;
    return result.then(
      (output) => {
        if (map.distributed) {
          parent.guard.largestChild = Math.max(parent.guard.largestChild, history.events);
        }
        const acc = parent.mapResults.get(map.name);
        if (acc) {
          acc.bytes += payloadBytes(output) + 1;
          if (acc.bytes > AWS_LIMITS.payloadBytes) {
            throw new ExecutionError(
              dataLimitError(`the result of Map state \`${map.name}\``, acc.bytes) as never,
            );
          }
        }
        return output;
      },
      (error: unknown) => {
        if (map.distributed) parent.guard.largestChild = Math.max(parent.guard.largestChild, history.events);
        const cause = (error as { cause?: unknown }).cause;
        if (map.distributed && error instanceof ExecutionError && cause instanceof TerminalStatesError) {
          // A child execution's terminal error fails the Map run, which its parent may catch.
          const failure = new Error(
            `a child execution of Map \`${map.name}\` failed with ${cause.name}: ${cause.message}`,
          );
          failure.name = "States.ExceedToleratedFailureThreshold";
          throw new ExecutionError(failure as never);
        }
        throw error;
      },
    );
  };
  proto[PATCHED] = true;
}

/** Counts and measures one execution's state events, failing it where Step Functions would. */
function instrument(logger: Logger, frame: Frame): void {
  const { history, definition } = frame;
  const entered = logger.dispatchStateEnteredEvent as Logger[string];
  const exited = logger.dispatchStateExitedEvent as Logger[string];
  logger.dispatchStateEnteredEvent = function (name, type, input) {
    history.add(HISTORY_EVENTS.stateEntered);
    checkPayload(input, `the input of state \`${String(name)}\``);
    if (type === "Map") {
      const state = definition.States[name as string];
      const processor = (state?.ItemProcessor ?? state?.Iterator) as object | undefined;
      const distributed = processor ? frame.guard.maps.get(processor)?.distributed === true : false;
      history.add(HISTORY_EVENTS.map + (distributed ? HISTORY_EVENTS.mapRun : 0));
      // The Map's result is the array of its iterations' outputs: `[` and `]`, then each and a comma.
      frame.mapResults.set(name as string, { bytes: 1, distributed });
    }
    return entered.call(this, name, type, input);
  };
  logger.dispatchStateExitedEvent = function (name, type, input, output) {
    history.add(HISTORY_EVENTS.stateExited);
    checkPayload(output, `the output of state \`${String(name)}\``);
    return exited.call(this, name, type, input, output);
  };
}

/**
 * Runs `start` (which starts an execution of `definition` with aws-local-stepfunctions) under the
 * limits: every execution it starts, nested ones included, is counted and measured.
 */
export function runWithLimits<T>(
  definition: Definition,
  options: { readonly historyLimit?: number },
  start: () => T,
): { readonly result: T; readonly report: () => HistoryReport } {
  const limit = options.historyLimit ?? AWS_LIMITS.historyEvents;
  const root = new History("the execution", limit);
  const guard = new Guard(definition, limit);
  const frame: Frame = { guard, history: root, definition, mapResults: new Map() };
  // The root execution finds this frame as its parent, with no Map for its definition: it counts
  // into `root` itself.
  const result = frames.run(frame, start);
  return {
    result,
    report: () => ({ events: root.events, children: guard.children, largestChild: guard.largestChild }),
  };
}
