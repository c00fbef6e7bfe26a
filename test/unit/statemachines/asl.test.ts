import { readFileSync } from "node:fs";
import aslValidator from "asl-validator";
import { describe, expect, it } from "vitest";
import { functionOf, loadMachine } from "../../../src/local/asl-runner.ts";

const files = ["provision", "destroy", "power"] as const;
const read = (f: string) =>
  JSON.parse(readFileSync(new URL(`../../../statemachines/${f}.asl.json`, import.meta.url), "utf8"));

type State = Record<string, unknown> & { Type: string };
type Def = { States: Record<string, State> };

function* states(def: Def): Generator<[string, State]> {
  for (const [name, s] of Object.entries(def.States)) {
    yield [name, s];
    const inner = s.ItemProcessor as Def | undefined;
    if (inner) yield* states(inner);
  }
}

describe.each(files)("statemachines/%s.asl.json", (file) => {
  const def = read(file) as Def;

  it("passes asl-validator", () => {
    const result = aslValidator(structuredClone(def) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it("uses JSONPath only (the local interpreter ignores JSONata and Assign)", () => {
    const text = JSON.stringify(def);
    expect(text).not.toContain("JSONata");
    expect(text).not.toContain('"Assign"');
    expect(text).not.toContain("{%");
  });

  it("bounds every Task with a timeout and backs off with jitter on every retry", () => {
    for (const [name, s] of states(def)) {
      if (s.Type !== "Task") continue;
      expect(s.TimeoutSeconds ?? s.TimeoutSecondsPath, `${name} has a timeout`).toBeDefined();
      for (const r of (s.Retry as Record<string, unknown>[]) ?? []) {
        expect(r.JitterStrategy, `${name} retries with jitter`).toBe("FULL");
        expect(r.BackoffRate as number, `${name} backs off`).toBeGreaterThan(1);
        expect(r.MaxDelaySeconds, `${name} caps its backoff`).toBeDefined();
      }
    }
  });

  it("names a Lambda function for every Task, so both AWS and the local runtime can bind it", () => {
    const machine = loadMachine(new URL(`../../../statemachines/${file}.asl.json`, import.meta.url));
    for (const [name, s] of states(def)) if (s.Type === "Task") expect(functionOf(s), name).toBeDefined();
    expect(machine.functions.size).toBeGreaterThan(2);
  });
});

describe("the provision state machine", () => {
  const def = read("provision") as Def;
  const servers = def.States.Servers as State & {
    ItemProcessor: Def & { ProcessorConfig: Record<string, string> };
  };

  it("runs servers in a Distributed Map, so stacks go past the Inline Map's 40 concurrent iterations", () => {
    expect(servers.ItemProcessor.ProcessorConfig).toEqual({ Mode: "DISTRIBUTED", ExecutionType: "STANDARD" });
    expect(servers.MaxConcurrencyPath).toBe("$.plan.maxParallel");
  });

  it("waits for dependencies and readiness with callback tasks that have timeouts", () => {
    for (const name of ["WaitForDependencies", "WaitUntilReady"]) {
      const s = servers.ItemProcessor.States[name] as State;
      expect(s.Resource).toBe("arn:aws:states:::lambda:invoke.waitForTaskToken");
      expect((s.Parameters as { Payload: Record<string, string> }).Payload["token.$"]).toBe("$$.Task.Token");
      expect(s.TimeoutSecondsPath).toMatch(/^\$\./);
    }
  });

  it("catches every failure of a server inside its iteration, so independent servers finish", () => {
    for (const name of ["WaitForDependencies", "CreateServer", "WaitUntilReady", "PublishArtifacts"]) {
      const s = servers.ItemProcessor.States[name] as State;
      expect(s.Catch).toEqual([
        { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "MarkServerFailed" },
      ]);
    }
  });
});
