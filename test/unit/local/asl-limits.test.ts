import { describe, expect, it } from "vitest";
import {
  type LoadedMachine,
  runMachine,
  type TaskFunction,
  TokenRegistry,
} from "../../../src/local/asl-runner.ts";
import { AWS_LIMITS } from "../../../src/local/limits.ts";

// Step Functions' limits on the local runtime: machines that pass them fail as AWS fails them.

/** The placeholder a Task names its function by: `${NameFunctionArn}`. */
const arn = (fn: string) => `\${${fn}FunctionArn}`;

const RETRY_ALL = [
  { ErrorEquals: ["States.ALL"], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, MaxDelaySeconds: 2 },
];
const CATCH_ALL = [
  { ErrorEquals: ["States.ALL", "States.DataLimitExceeded"], ResultPath: "$.error", Next: "Caught" },
];
const CAUGHT = { Caught: { Type: "Task", Resource: arn("Caught"), TimeoutSeconds: 10, End: true } };

function machine(definition: Record<string, unknown>): LoadedMachine {
  const functions = new Set<string>();
  for (const m of JSON.stringify(definition).matchAll(/\$\{([A-Za-z]+)FunctionArn\}/g))
    functions.add(m[1] as string);
  return { definition: definition as never, functions };
}

async function run(
  def: Record<string, unknown>,
  functions: Record<string, TaskFunction>,
  historyLimit?: number,
) {
  const calls: string[] = [];
  const bound = Object.fromEntries(
    Object.entries(functions).map(([k, fn]) => [
      k,
      (p: Record<string, unknown>) => {
        calls.push(k);
        return fn(p);
      },
    ]),
  );
  const { outcome, settled } = await runMachine(
    machine(def),
    {},
    {
      executionId: "limits",
      functions: bound,
      tokens: new TokenRegistry(),
      ...(historyLimit !== undefined ? { historyLimit } : {}),
    },
  );
  await settled;
  return { outcome, calls };
}

const big = (bytes: number) => ({ text: "x".repeat(bytes) });
const caught = async () => ({ caught: true });

describe("the local runtime's 256 KB payload limit", () => {
  it("fails the execution when a task's result passes 256 KB: no Retry or Catch matches, not even by name", async () => {
    const { outcome, calls } = await run(
      {
        StartAt: "Big",
        States: {
          Big: {
            Type: "Task",
            Resource: arn("Big"),
            TimeoutSeconds: 10,
            Retry: RETRY_ALL,
            Catch: CATCH_ALL,
            End: true,
          },
          ...CAUGHT,
        },
      },
      { Big: async () => big(AWS_LIMITS.payloadBytes), Caught: caught },
    );
    expect(outcome.status).toBe("FAILED");
    if (outcome.status !== "FAILED") return;
    expect(outcome.error).toBe("States.DataLimitExceeded");
    expect(outcome.cause).toMatch(
      /the result of task state `Big` is 262,155 bytes; Step Functions allows 262,144/,
    );
    // Neither retried nor caught.
    expect(calls).toEqual(["Big"]);
  });

  it("accepts a result of exactly 256 KB", async () => {
    // `{"text":"…"}` is 11 bytes around the string.
    const { outcome } = await run(
      {
        StartAt: "Big",
        States: { Big: { Type: "Task", Resource: arn("Big"), TimeoutSeconds: 10, End: true } },
      },
      { Big: async () => big(AWS_LIMITS.payloadBytes - 11) },
    );
    expect(outcome.status).toBe("SUCCEEDED");
  });

  it("fails when a state's output passes 256 KB though the task's result alone does not", async () => {
    const half = async () => big(AWS_LIMITS.payloadBytes / 2);
    const { outcome, calls } = await run(
      {
        StartAt: "First",
        States: {
          First: {
            Type: "Task",
            Resource: arn("Half"),
            TimeoutSeconds: 10,
            ResultPath: "$.a",
            Next: "Second",
          },
          Second: {
            Type: "Task",
            Resource: arn("Half"),
            TimeoutSeconds: 10,
            ResultPath: "$.b",
            Catch: CATCH_ALL,
            Next: "Never",
          },
          Never: { Type: "Task", Resource: arn("Caught"), TimeoutSeconds: 10, End: true },
          ...CAUGHT,
        },
      },
      { Half: half, Caught: caught },
    );
    expect(outcome.status === "FAILED" && outcome.error).toBe("States.DataLimitExceeded");
    expect(outcome.status === "FAILED" && outcome.cause).toMatch(/^the output of state `Second` is /);
    expect(calls).toEqual(["Half", "Half"]);
  });

  it("fails when an Inline Map's iterations together return more than 256 KB, past the Map's Catch", async () => {
    const items = Array.from({ length: 30 }, (_, i) => i);
    const { outcome, calls } = await run(
      {
        StartAt: "Items",
        States: {
          Items: { Type: "Pass", Result: items, ResultPath: "$.items", Next: "Each" },
          Each: {
            Type: "Map",
            ItemsPath: "$.items",
            MaxConcurrency: 5,
            ItemProcessor: {
              ProcessorConfig: { Mode: "INLINE" },
              StartAt: "Work",
              States: {
                Work: { Type: "Task", Resource: arn("Work"), TimeoutSeconds: 10, End: true },
              },
            },
            ResultPath: null,
            Catch: CATCH_ALL,
            End: true,
          },
          ...CAUGHT,
        },
      },
      { Work: async () => big(10_000), Caught: caught },
    );
    expect(outcome.status === "FAILED" && outcome.error).toBe("States.DataLimitExceeded");
    expect(outcome.status === "FAILED" && outcome.cause).toMatch(/^the result of Map state `Each` is /);
    expect(calls).not.toContain("Caught");
  });

  it("fails a Distributed Map's child, not its parent: the Map fails with ExceedToleratedFailureThreshold, which its Catch matches", async () => {
    const { outcome, calls } = await run(
      {
        StartAt: "Items",
        States: {
          Items: { Type: "Pass", Result: [1, 2, 3], ResultPath: "$.items", Next: "Each" },
          Each: {
            Type: "Map",
            ItemsPath: "$.items",
            ItemProcessor: {
              ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
              StartAt: "Work",
              States: {
                Work: { Type: "Task", Resource: arn("Work"), TimeoutSeconds: 10, End: true },
              },
            },
            ResultPath: null,
            Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "Caught" }],
            End: true,
          },
          ...CAUGHT,
        },
      },
      { Work: async () => big(AWS_LIMITS.payloadBytes), Caught: caught },
    );
    expect(outcome.status).toBe("SUCCEEDED");
    expect(calls).toContain("Caught");
  });

  it("cuts a task failure's cause to 32,768 characters, as Step Functions keeps it", async () => {
    let seen = "";
    const { outcome } = await run(
      {
        StartAt: "Fails",
        States: {
          Fails: {
            Type: "Task",
            Resource: arn("Fails"),
            TimeoutSeconds: 10,
            Catch: [{ ErrorEquals: ["LongError"], ResultPath: "$.error", Next: "Caught" }],
            End: true,
          },
          Caught: { Type: "Task", Resource: arn("Caught"), TimeoutSeconds: 10, End: true },
        },
      },
      {
        Fails: async () => {
          const e = new Error("y".repeat(100_000));
          e.name = "LongError";
          throw e;
        },
        Caught: async (p) => {
          seen = (p as { error: { Cause: string } }).error.Cause;
          return {};
        },
      },
    );
    expect(outcome.status).toBe("SUCCEEDED");
    expect(seen).toHaveLength(AWS_LIMITS.causeChars);
  });
});

describe("the local runtime's execution history limit", () => {
  const mapOver = (mode: "INLINE" | "DISTRIBUTED", n: number) => ({
    StartAt: "Items",
    States: {
      Items: {
        Type: "Pass",
        Result: Array.from({ length: n }, (_, i) => i),
        ResultPath: "$.items",
        Next: "Each",
      },
      Each: {
        Type: "Map",
        ItemsPath: "$.items",
        MaxConcurrency: 1000,
        ItemProcessor: {
          ProcessorConfig:
            mode === "INLINE" ? { Mode: "INLINE" } : { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
          StartAt: "Work",
          States: { Work: { Type: "Task", Resource: arn("Work"), TimeoutSeconds: 10, End: true } },
        },
        ResultPath: null,
        Catch: CATCH_ALL,
        End: true,
      },
      ...CAUGHT,
    },
  });
  const nothing = async () => ({});

  it("fails an execution whose Inline Map writes more than 25,000 events into its one history", async () => {
    // Each iteration: MapIterationStarted/Succeeded, TaskStateEntered/Exited, three Lambda events.
    const { outcome, calls } = await run(mapOver("INLINE", 4000), { Work: nothing, Caught: caught });
    expect(outcome.status === "FAILED" && outcome.error).toBe("States.Runtime");
    expect(outcome.status === "FAILED" && outcome.cause).toMatch(
      /^the execution history of the execution passed 25,000 events/,
    );
    expect(calls).not.toContain("Caught");
    expect(outcome.history.events).toBeGreaterThan(AWS_LIMITS.historyEvents);
  });

  it("runs the same 4,000 items in a Distributed Map: each child has a history of its own", async () => {
    const { outcome } = await run(mapOver("DISTRIBUTED", 4000), { Work: nothing, Caught: caught });
    expect(outcome.status).toBe("SUCCEEDED");
    // The parent: its own two, Pass and Map entered and exited, the Map and its run started and ended.
    expect(outcome.history).toEqual({ events: 10, children: 4000, largestChild: 7 });
    expect(outcome.taskCalls).toEqual({ Work: 4000 });
  });
});
