import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ERROR_NAMES,
  EVERY_TASK,
  isRetryable,
  LAMBDA_SERVICE_ERRORS,
  RETRYABLE_ERRORS,
  retryableErrorsOf,
} from "../../../src/core/error-names.ts";
import { functionOf } from "../../../src/local/asl-runner.ts";

/**
 * The contract between error names and the state machines, both ways: every name a Retry or Catch
 * matches is thrown (or sent with a task token) by the task code, and every retryable error a task
 * can throw is retried by each Task state that runs that task. The machines are read generically
 * (every Task state at any depth, in Map and Parallel states), so a reshaped machine is checked
 * the same way.
 */

const ROOT = new URL("../../../", import.meta.url);
const MACHINES = ["provision", "destroy", "power"] as const;

type State = Record<string, unknown> & { Type: string };
type Definition = { States: Record<string, State> };
type Retrier = { ErrorEquals: string[] };

function readMachine(file: string): Definition {
  return JSON.parse(readFileSync(new URL(`statemachines/${file}.asl.json`, ROOT), "utf8")) as Definition;
}

/** Every state of a definition with its path, Map and Parallel states' inner states included. */
function* allStates(def: Definition, path = ""): Generator<[string, State]> {
  for (const [name, state] of Object.entries(def.States)) {
    const here = `${path}${name}`;
    yield [here, state];
    const inner = (state.ItemProcessor ?? state.Iterator) as Definition | undefined;
    if (inner) yield* allStates(inner, `${here}/`);
    for (const [i, branch] of ((state.Branches as Definition[] | undefined) ?? []).entries()) {
      yield* allStates(branch, `${here}[${i}]/`);
    }
  }
}

/** Source files of the code that runs in tasks: src (less the command line and the API) and lambdas. */
function taskSources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const dir of ["src", "lambdas"]) {
    for (const entry of readdirSync(new URL(`${dir}/`, ROOT), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".d.ts")) continue;
      const file = `${entry.parentPath}/${entry.name}`.slice(new URL(ROOT).pathname.length);
      out.push({ file, text: readFileSync(new URL(file, ROOT), "utf8") });
    }
  }
  return out;
}

const TASK_CODE = (file: string) => !file.startsWith("src/cli/") && !file.startsWith("src/api/");

interface ErrorClass {
  readonly className: string;
  readonly file: string;
  /** The `ERROR_NAMES` key its constructor sets `this.name` from; undefined when it sets none so. */
  readonly name: string | undefined;
}

/** Every class extending an error, with the name it sets (from ERROR_NAMES, or not). */
function errorClasses(sources: readonly { file: string; text: string }[]): ErrorClass[] {
  const out: ErrorClass[] = [];
  for (const { file, text } of sources) {
    const decls = [...text.matchAll(/^(?:export )?class (\w+) extends (\w+)/gm)];
    decls.forEach((m, i) => {
      if (!/Error$/.test(m[2] as string)) return;
      const body = text.slice(m.index, decls[i + 1]?.index ?? text.length);
      const set = /this\.name = ERROR_NAMES\.(\w+);/.exec(body);
      out.push({ className: m[1] as string, file, name: set?.[1] });
    });
  }
  return out;
}

/**
 * Names the task code raises: the name of every error class it constructs (thrown, or returned
 * to be thrown as translateError does), and the names it sends with a task token
 * (`sendFailure(token, NAME, cause)`, NAME a string, an ERROR_NAMES entry or `new XError(...).name`).
 */
function raisedNames(sources: readonly { file: string; text: string }[], classes: readonly ErrorClass[]) {
  const nameOf = new Map(classes.map((c) => [c.className, c.name]));
  const raised = new Map<string, string[]>();
  const add = (name: string | undefined, file: string) => {
    if (name !== undefined) raised.set(name, [...(raised.get(name) ?? []), file]);
  };
  for (const { file, text } of sources.filter((s) => TASK_CODE(s.file))) {
    for (const m of text.matchAll(/\bnew (\w+Error)\(/g)) add(nameOf.get(m[1] as string), file);
    for (const m of text.matchAll(
      /\bsendFailure\(\s*[^,()]+,\s*(?:"(\w+)"|ERROR_NAMES\.(\w+)|new (\w+)\()/g,
    )) {
      add(m[1] ?? m[2] ?? nameOf.get(m[3] as string), file);
    }
  }
  return raised;
}

/** Problems of a machine against the contract: ASL names nobody raises, retryable errors not retried. */
function contractProblems(def: Definition, raised: ReadonlyMap<string, unknown>): string[] {
  const problems: string[] = [];
  const lambda = new Set<string>(LAMBDA_SERVICE_ERRORS);
  for (const [path, state] of allStates(def)) {
    const retriers = (state.Retry as Retrier[] | undefined) ?? [];
    const catchers = (state.Catch as Retrier[] | undefined) ?? [];
    for (const { ErrorEquals } of [...retriers, ...catchers]) {
      for (const name of ErrorEquals) {
        if (name.startsWith("States.") || lambda.has(name)) continue;
        if (!Object.hasOwn(ERROR_NAMES, name)) problems.push(`${path}: \`${name}\` is not in ERROR_NAMES`);
        else if (!raised.has(name)) problems.push(`${path}: \`${name}\` is thrown by no task`);
      }
    }
    if (state.Type !== "Task") continue;
    const fn = functionOf(state)?.fn;
    if (fn === undefined) {
      problems.push(`${path}: runs no \${XFunctionArn}`);
      continue;
    }
    const retried = new Set(retriers.flatMap((r) => r.ErrorEquals));
    for (const name of retryableErrorsOf(fn)) {
      if (!retried.has(name) && !retried.has("States.ALL") && !retried.has("States.TaskFailed")) {
        problems.push(`${path}: runs ${fn}, which can throw ${name}, but no Retry names it`);
      }
    }
  }
  return problems;
}

const sources = taskSources();
const classes = errorClasses(sources);
const raised = raisedNames(sources, classes);

describe("error names", () => {
  it("gives every error class its own name from ERROR_NAMES, equal to the class name", () => {
    expect(classes.length).toBeGreaterThan(40);
    const problems = classes
      // The local runtime's carriers of any name (a task's, or one of Step Functions' own States.*).
      .filter((c) => c.className !== "TaskFailure" && c.className !== "TerminalStatesError")
      .filter((c) => c.name !== c.className)
      .map((c) => `${c.file}: class ${c.className} sets name ${c.name ?? "(not from ERROR_NAMES)"}`);
    expect(problems).toEqual([]);
    const seen = new Map<string, string>();
    for (const c of classes) {
      if (c.name === undefined) continue;
      expect(seen.get(c.name), `${c.name} is the name of two classes`).toBeUndefined();
      seen.set(c.name, `${c.file}: ${c.className}`);
    }
  });

  it("writes no error name as a literal where a class sets it", () => {
    const literal = sources.filter(({ text }) => /this\.name = ["'`]/.test(text)).map((s) => s.file);
    expect(literal).toEqual([]);
  });

  it("lists only names that a class carries or a task token sends", () => {
    const carried = new Set(classes.map((c) => c.name));
    const stale = Object.keys(ERROR_NAMES).filter((n) => !carried.has(n) && !raised.has(n));
    expect(stale).toEqual([]);
  });

  it("retries only names that exist and that the task code raises", () => {
    for (const name of Object.keys(RETRYABLE_ERRORS)) {
      expect(Object.hasOwn(ERROR_NAMES, name), name).toBe(true);
      expect(raised.has(name), `${name} is raised by a task`).toBe(true);
      expect(isRetryable(name)).toBe(true);
    }
    expect(isRetryable("StackLockedError")).toBe(false);
  });

  it("names only task functions that a state machine runs", () => {
    const functions = new Set<string>();
    for (const file of MACHINES) {
      for (const [, state] of allStates(readMachine(file))) {
        const fn = state.Type === "Task" ? functionOf(state)?.fn : undefined;
        if (fn) functions.add(fn);
      }
    }
    for (const by of Object.values(RETRYABLE_ERRORS)) {
      if (by === EVERY_TASK || by === undefined) continue;
      for (const fn of by) expect(functions.has(fn), `${fn} runs in a machine`).toBe(true);
    }
  });
});

describe.each(MACHINES)("statemachines/%s.asl.json against the error names", (file) => {
  const def = readMachine(file);

  it("matches only names the task code throws, and retries every retryable error where a task can throw it", () => {
    expect(contractProblems(def, raised)).toEqual([]);
  });

  it("reports a retryable error that a task state stops retrying", () => {
    const broken = structuredClone(def);
    const [path, task] = [...allStates(broken)].find(([, s]) => s.Type === "Task") as [string, State];
    for (const r of (task.Retry as Retrier[] | undefined) ?? []) {
      r.ErrorEquals = r.ErrorEquals.filter((e) => e !== "StoreThrottledError");
    }
    expect(contractProblems(broken, raised)).toContainEqual(
      expect.stringMatching(new RegExp(`^${path}: runs \\w+, which can throw StoreThrottledError`)),
    );
  });

  it("reports a Catch on a name that no task throws", () => {
    const broken = structuredClone(def);
    const [path, task] = [...allStates(broken)].find(([, s]) => s.Type === "Task") as [string, State];
    task.Catch = [{ ErrorEquals: ["DependencyFailedError", "NoSuchError"], Next: "x" }];
    const withoutSender = new Map([...raised].filter(([n]) => n !== "DependencyFailedError"));
    expect(contractProblems(broken, withoutSender)).toEqual(
      expect.arrayContaining([
        `${path}: \`NoSuchError\` is not in ERROR_NAMES`,
        `${path}: \`DependencyFailedError\` is thrown by no task`,
      ]),
    );
  });
});
