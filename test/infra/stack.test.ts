import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { App, type CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ESM_REQUIRE_BANNER,
  NON_TASK_HANDLERS,
  pascalCase,
  TASK_ACCESS,
} from "../../infra/constructs/task-functions.ts";
import { aslPlaceholders } from "../../infra/constructs/workflow.ts";
import { PROJECT_ROOT, TeamstackStack } from "../../infra/teamstack-stack.ts";
import { tableDefinition } from "../../src/store/table.ts";

// Synthesizes the real stack once, with cdk.json's context (feature flags) as `cdk synth` does:
// bundling all task functions takes a few seconds.

type Json = Record<string, unknown>;
interface Resource {
  readonly Type: string;
  readonly Properties: Json;
  readonly DependsOn?: string | string[];
  readonly DeletionPolicy?: string;
}
interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

let outdir: string;
let stack: TeamstackStack;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as { context: Json };
  outdir = mkdtempSync(join(tmpdir(), "teamstack-cdk-"));
  const app = new App({ outdir, context: cdkJson.context });
  stack = new TeamstackStack(app, "Teamstack");
  app.synth();
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const MACHINES = [
  { id: "Provision", file: "provision.asl.json", name: "Teamstack-Provision" },
  { id: "Destroy", file: "destroy.asl.json", name: "Teamstack-Destroy" },
] as const;

function taskFolders(): string[] {
  const dir = join(PROJECT_ROOT, "lambdas");
  return readdirSync(dir)
    .filter((f) => existsSync(join(dir, f, "handler.ts")) && !NON_TASK_HANDLERS.has(f))
    .sort();
}

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function props(logicalId: string): Json {
  const r = resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId}`);
  return r.Properties;
}

/** The logical id of a task function, from its stable construct id `Tasks/<Name>Function`. */
function functionLogicalId(name: string): string {
  const fn = stack.node.findChild("Tasks").node.findChild(`${name}Function`);
  return stack.getLogicalId(fn.node.defaultChild as CfnElement);
}

function machineLogicalId(id: string): string {
  return stack.getLogicalId(
    stack.node.findChild(id).node.findChild("StateMachine").node.defaultChild as CfnElement,
  );
}

/** Renders an intrinsic as text: `{Ref X}`, `{X.Arn}`, joins concatenated; pseudo parameters by name. */
function render(value: unknown): string {
  if (typeof value === "string") return value;
  const v = value as Json;
  if (typeof v.Ref === "string") return `{${v.Ref}}`;
  if (Array.isArray(v["Fn::GetAtt"])) return `{${(v["Fn::GetAtt"] as string[]).join(".")}}`;
  if (Array.isArray(v["Fn::Join"])) {
    const [sep, parts] = v["Fn::Join"] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function list<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

/** Every statement of the IAM policies attached to a role. */
function statementsOfRole(roleId: string): Statement[] {
  return ofType("AWS::IAM::Policy")
    .filter(([, p]) => (p.Properties.Roles as Json[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

function roleOfFunction(fnId: string): string {
  return (props(fnId).Role as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
}

function roleOfMachine(machineId: string): string {
  return (props(machineId).RoleArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
}

/** `action → rendered resources` of a role's policies. */
function grants(roleId: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of statementsOfRole(roleId)) {
    expect(s.Effect).toBe("Allow");
    for (const action of list(s.Action)) {
      out.set(action, [...(out.get(action) ?? []), ...list(s.Resource).map(render)].sort());
    }
  }
  return out;
}

type AslNode = { States?: Record<string, Json> };
function* tasksOf(graph: AslNode): Generator<[string, Json]> {
  for (const [name, state] of Object.entries(graph.States ?? {})) {
    if (state.Type === "Task") yield [name, state];
    if (state.ItemProcessor) yield* tasksOf(state.ItemProcessor as AslNode);
  }
}

/** The function a Task calls: its Resource, or FunctionName for the lambda:invoke integration. */
function functionOfTask(state: Json): string {
  const resource = state.Resource as string;
  if (resource.startsWith("arn:aws:states:::lambda:invoke")) {
    return (state.Parameters as Json).FunctionName as string;
  }
  return resource;
}

describe("the store table", () => {
  it("defines keys, billing and the gsi1 index exactly as src/store/table.ts does", () => {
    const [[id] = []] = ofType("AWS::DynamoDB::Table");
    const deployed = props(id as string);
    const { TableName: _, ...local } = tableDefinition("any");
    const byName = (defs: unknown) =>
      [...(defs as { AttributeName: string }[])].sort((a, b) =>
        a.AttributeName.localeCompare(b.AttributeName),
      );
    for (const [key, value] of Object.entries(local)) {
      if (key === "AttributeDefinitions") expect(byName(deployed[key]), key).toEqual(byName(value));
      else expect(deployed[key], key).toEqual(value);
    }
  });

  it("turns on point-in-time recovery, AWS-managed encryption and a TTL on expiresAt, and is retained", () => {
    template.resourceCountIs("AWS::DynamoDB::Table", 1);
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      Properties: {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      },
    });
    const [[id] = []] = ofType("AWS::DynamoDB::Table");
    // AWS-managed key: no customer key named.
    expect((props(id as string).SSESpecification as Json).KMSMasterKeyId).toBeUndefined();
  });
});

describe("the task functions", () => {
  it("declares permissions for exactly the task folders under lambdas/", () => {
    expect(Object.keys(TASK_ACCESS).sort()).toEqual(taskFolders());
    template.resourceCountIs("AWS::Lambda::Function", taskFolders().length);
  });

  it("runs every function on Node 24, arm64, with the table and bus names", () => {
    const [[tableId] = []] = ofType("AWS::DynamoDB::Table");
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    for (const folder of taskFolders()) {
      const p = props(functionLogicalId(pascalCase(folder)));
      expect(p.Runtime, folder).toBe("nodejs24.x");
      expect(p.Architectures, folder).toEqual(["arm64"]);
      expect(p.Handler, folder).toBe("index.handler");
      expect(p.Description, folder).toContain(`lambdas/${folder}/handler.ts`);
      expect((p.Environment as Json).Variables, folder).toEqual({
        TABLE_NAME: { Ref: tableId },
        EVENT_BUS_NAME: { Ref: busId },
      });
    }
  });

  it("builds each function from its own folder's handler.ts", () => {
    for (const folder of taskFolders()) {
      const task = stack.tasks.functions.find((f) => f.folder === folder);
      expect(task?.entry).toBe(join(PROJECT_ROOT, "lambdas", folder, "handler.ts"));
      expect(stack.getLogicalId(task?.fn.node.defaultChild as CfnElement)).toBe(
        functionLogicalId(pascalCase(folder)),
      );
    }
  });

  it("bundles every function into one minified ESM file that loads on this Node", () => {
    const manifestFile = readdirSync(outdir).find((f) => f.endsWith(".assets.json")) as string;
    const manifest = JSON.parse(readFileSync(join(outdir, manifestFile), "utf8")) as {
      files: Record<string, { source: { path: string } }>;
    };
    const bundles: string[] = [];
    for (const folder of taskFolders()) {
      const code = props(functionLogicalId(pascalCase(folder))).Code as { S3Key: string };
      const asset = manifest.files[code.S3Key.replace(/\.zip$/, "")];
      expect(asset, folder).toBeDefined();
      const dir = join(outdir, asset?.source.path as string);
      expect(readdirSync(dir), folder).toEqual(["index.mjs"]);
      const text = readFileSync(join(dir, "index.mjs"), "utf8");
      expect(text.startsWith(ESM_REQUIRE_BANNER), folder).toBe(true);
      expect(text, folder).toMatch(/export\s*\{[^}]*\bas handler\b[^}]*\};?\s*$/);
      // Minified: a few hundred kilobytes on a few hundred lines at most.
      expect(text.split("\n").length, folder).toBeLessThan(text.length / 1000);
      bundles.push(pathToFileURL(join(dir, "index.mjs")).href);
    }
    // Importing runs each handler's cold start (clients are built, nothing is sent).
    const script = `for (const b of ${JSON.stringify(bundles)}) { const m = await import(b); if (typeof m.handler !== "function") throw new Error(b); }`;
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, TABLE_NAME: "t", EVENT_BUS_NAME: "b", AWS_REGION: "us-east-1" },
      stdio: "pipe",
    });
  });

  it("grants each function only the actions its task calls, on the table itself", () => {
    const [[tableId] = []] = ofType("AWS::DynamoDB::Table");
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    const machineArn = (name: string) => `arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:${name}`;
    for (const folder of taskFolders()) {
      const access = TASK_ACCESS[folder];
      if (!access) throw new Error(folder);
      const expected = new Map<string, string[]>();
      for (const a of access.table) expected.set(`dynamodb:${a}`, [`{${tableId}.Arn}`]);
      if (access.sendsTaskTokens) {
        const arns = [
          machineArn("stateMachine:Teamstack-Provision"),
          machineArn("stateMachine:Teamstack-Provision/*"),
        ];
        expected.set("states:SendTaskSuccess", arns);
        expected.set("states:SendTaskFailure", arns);
      }
      if (access.describesExecutions) {
        expected.set(
          "states:DescribeExecution",
          MACHINES.map((m) => machineArn(`execution:${m.name}:*`)),
        );
      }
      if (access.publishesEvents) expected.set("events:PutEvents", [`{${busId}.Arn}`]);
      const actual = grants(roleOfFunction(functionLogicalId(pascalCase(folder))));
      const sorted = new Map([...expected].map(([k, v]) => [k, [...v].sort()]));
      expect(Object.fromEntries(actual), folder).toEqual(Object.fromEntries(sorted));
    }
  });

  it("gives no function a timeout longer than the longest Task that waits for it", () => {
    const longest = new Map<string, number>();
    for (const m of MACHINES) {
      const def = JSON.parse(readFileSync(join(PROJECT_ROOT, "statemachines", m.file), "utf8")) as AslNode;
      for (const [, state] of tasksOf(def)) {
        if (
          typeof state.TimeoutSeconds !== "number" ||
          (state.Resource as string).includes("waitForTaskToken")
        ) {
          continue;
        }
        const name = functionOfTask(state).replace(/^\$\{(\w+)FunctionArn\}$/, "$1");
        longest.set(name, Math.max(longest.get(name) ?? 0, state.TimeoutSeconds));
      }
    }
    for (const [name, seconds] of longest) {
      expect(props(functionLogicalId(name)).Timeout as number, name).toBeLessThanOrEqual(seconds);
    }
  });
});

describe.each(MACHINES)("the $id state machine", (machine) => {
  const text = () => readFileSync(join(PROJECT_ROOT, "statemachines", machine.file), "utf8");

  it("deploys the ASL file as is, every placeholder substituted by a task function's ARN", () => {
    const p = props(machineLogicalId(machine.id));
    expect(p.DefinitionString).toBe(text());
    const substitutions = p.DefinitionSubstitutions as Record<string, unknown>;
    const placeholders = aslPlaceholders(text());
    expect(placeholders.length).toBeGreaterThan(0);
    expect(Object.keys(substitutions).sort()).toEqual([...placeholders].sort());
    let rendered = p.DefinitionString as string;
    for (const placeholder of placeholders) {
      const name = placeholder.replace(/FunctionArn$/, "");
      expect(placeholder, "placeholders name a function").toBe(`${name}FunctionArn`);
      expect(substitutions[placeholder], placeholder).toEqual({
        "Fn::GetAtt": [functionLogicalId(name), "Arn"],
      });
      rendered = rendered.replaceAll(`\${${placeholder}}`, render(substitutions[placeholder]));
    }
    expect(rendered).not.toContain("${");
  });

  it("points every Task at the function of lambdas/<name>/handler.ts that it names", () => {
    const p = props(machineLogicalId(machine.id));
    const substitutions = p.DefinitionSubstitutions as Record<string, unknown>;
    const def = JSON.parse(p.DefinitionString as string) as AslNode;
    const tasks = [...tasksOf(def)];
    expect(tasks.length).toBeGreaterThan(0);
    for (const [state, task] of tasks) {
      const ref = functionOfTask(task);
      const match = /^\$\{(\w+)FunctionArn\}$/.exec(ref);
      expect(match, `${state} calls ${ref}`).not.toBeNull();
      const name = match?.[1] as string;
      const folder = taskFolders().find((f) => pascalCase(f) === name);
      expect(folder, `${state}: lambdas/<folder> for ${name}`).toBeDefined();
      const fnId = functionLogicalId(name);
      expect(resources[fnId]?.Type).toBe("AWS::Lambda::Function");
      expect(props(fnId).Description).toContain(`lambdas/${folder}/handler.ts`);
      expect(substitutions[`${name}FunctionArn`]).toEqual({ "Fn::GetAtt": [fnId, "Arn"] });
    }
  });

  it("is a Standard machine logging every event without execution data, traced with X-Ray", () => {
    const p = props(machineLogicalId(machine.id));
    expect(p.StateMachineType).toBe("STANDARD");
    expect(p.StateMachineName).toBe(machine.name);
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    const logging = p.LoggingConfiguration as {
      Level: string;
      IncludeExecutionData: boolean;
      Destinations: Json[];
    };
    expect(logging.Level).toBe("ALL");
    expect(logging.IncludeExecutionData).toBe(false);
    const group = (
      (logging.Destinations[0] as Json).CloudWatchLogsLogGroup as { LogGroupArn: { "Fn::GetAtt": string[] } }
    ).LogGroupArn["Fn::GetAtt"][0] as string;
    expect(resources[group]?.Type).toBe("AWS::Logs::LogGroup");
    expect(props(group).LogGroupName).toBe(`/aws/vendedlogs/states/${machine.name}`);
  });

  it("invokes only the functions its definition names", () => {
    const names = aslPlaceholders(text()).map((p) => p.replace(/FunctionArn$/, ""));
    const arns = names.flatMap((n) => [`{${functionLogicalId(n)}.Arn}`, `{${functionLogicalId(n)}.Arn}:*`]);
    expect(grants(roleOfMachine(machineLogicalId(machine.id))).get("lambda:InvokeFunction")).toEqual(
      arns.sort(),
    );
  });

  it("controls its own child executions (start, describe, stop, redrive) only when it has a Distributed Map", () => {
    const distributed = text().includes('"DISTRIBUTED"');
    const g = grants(roleOfMachine(machineLogicalId(machine.id)));
    const arn = (rest: string) => `arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:${rest}`;
    const states = Object.fromEntries([...g].filter(([action]) => action.startsWith("states:")));
    expect(states).toEqual(
      distributed
        ? {
            "states:StartExecution": [arn(`stateMachine:${machine.name}`)],
            "states:DescribeExecution": [
              arn(`execution:${machine.name}/*`),
              arn(`execution:${machine.name}:*`),
            ],
            "states:StopExecution": [arn(`execution:${machine.name}/*`), arn(`execution:${machine.name}:*`)],
            "states:RedriveExecution": [arn(`execution:${machine.name}/*:*`)],
          }
        : {},
    );
  });
});

describe("IAM", () => {
  // CloudWatch Logs log delivery and X-Ray accept no resource-level permissions: the state
  // machines' logging and tracing need them on `*` (the CDK adds them with logs and tracing).
  const RESOURCE_STAR_ONLY = new Set([
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
  ]);

  it("grants no service wildcard, and Resource * only where the action allows nothing narrower", () => {
    const statements = ofType("AWS::IAM::Policy").flatMap(
      ([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      const actions = list(s.Action);
      for (const action of actions) expect(action).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      const targets = list(s.Resource).map(render);
      if (targets.includes("*")) {
        for (const action of actions) expect(RESOURCE_STAR_ONLY.has(action), action).toBe(true);
        continue;
      }
      for (const target of targets) {
        if (!target.includes("*")) continue;
        // Wildcards only below one named resource: a function's versions, one machine's executions.
        expect(target, actions.join(",")).toMatch(
          /^\{\w+\.Arn\}:\*$|:(stateMachine|execution):Teamstack-(Provision|Destroy)(:\*|\/\*|\/\*:\*)$/,
        );
      }
    }
  });

  it("attaches only the basic Lambda execution policy as a managed policy", () => {
    for (const [, role] of ofType("AWS::IAM::Role")) {
      for (const arn of (role.Properties.ManagedPolicyArns as unknown[] | undefined) ?? []) {
        expect(render(arn)).toMatch(/:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/);
      }
    }
  });
});

describe("the template", () => {
  it("has no dependency cycle (the CDK does not check; CloudFormation refuses one at deploy)", () => {
    const edges = new Map<string, Set<string>>();
    const collect = (value: unknown, into: Set<string>): void => {
      if (Array.isArray(value)) for (const v of value) collect(v, into);
      else if (value && typeof value === "object") {
        const v = value as Json;
        if (typeof v.Ref === "string" && v.Ref in resources) into.add(v.Ref);
        const getAtt = v["Fn::GetAtt"];
        if (Array.isArray(getAtt) && typeof getAtt[0] === "string" && getAtt[0] in resources)
          into.add(getAtt[0]);
        for (const inner of Object.values(v)) collect(inner, into);
      }
    };
    for (const [id, r] of Object.entries(resources)) {
      const to = new Set<string>(r.DependsOn === undefined ? [] : list(r.DependsOn));
      collect(r.Properties, to);
      edges.set(id, to);
    }
    const state = new Map<string, "visiting" | "done">();
    const visit = (id: string, path: string[]): void => {
      if (state.get(id) === "done") return;
      if (state.get(id) === "visiting") throw new Error(`cycle: ${[...path, id].join(" -> ")}`);
      state.set(id, "visiting");
      for (const next of edges.get(id) ?? []) visit(next, [...path, id]);
      state.set(id, "done");
    };
    for (const id of edges.keys()) visit(id, []);
  });
});
