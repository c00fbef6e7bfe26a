import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { App, type CfnElement, Validations } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CONTEXT_KEYS,
  PLACEHOLDER_JWT_AUDIENCE,
  PLACEHOLDER_JWT_ISSUER,
  readDeployConfig,
} from "../../infra/config.ts";
import {
  API_ACCESS,
  DEFAULT_THROTTLE,
  OPENAPI_THROTTLE,
  type ServiceAccess,
} from "../../infra/constructs/http-api.ts";
import { ESM_REQUIRE_BANNER, esbuildOptions } from "../../infra/constructs/lambda-function.ts";
import { ROLLOUT_ACCESS, ROLLOUT_DELIVERY, ROLLOUT_INVOKE_RETRIES } from "../../infra/constructs/rollout.ts";
import {
  SIGNUP_ACCESS,
  SIGNUP_DELIVERY,
  SIGNUP_EVENT_PATTERN,
  SIGNUP_INVOKE_RETRIES,
  STACK_EVENTS_PATTERN,
} from "../../infra/constructs/signup.ts";
import {
  NON_TASK_HANDLERS,
  pascalCase,
  signsReadinessCallbacks,
  TASK_ACCESS,
} from "../../infra/constructs/task-functions.ts";
import { aslPlaceholders } from "../../infra/constructs/workflow.ts";
import { PROJECT_ROOT, TeamstackStack } from "../../infra/teamstack-stack.ts";
import { SERVE_ONLY_OPEN } from "../../src/api/console-routes.ts";
import { ROUTES } from "../../src/api/routes.ts";
import { tableDefinition } from "../../src/store/table.ts";

// Synthesizes the real stack once as `cdk deploy -c ...` would (cdk.json's feature flags, an
// issuer, two audiences and a log level given): bundling every function takes a few seconds. A
// second synth without those settings and without bundling runs cdk-nag, as `npm run synth` on a
// fresh clone does. Outputs live under node_modules/.cache so that a bundle's imports of the AWS
// SDK, which the Lambda runtime provides, resolve from the project's node_modules.

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

const ISSUER = "https://login.example.com/oauth2/teamstack";
const AUDIENCES = ["teamstack-api", "teamstack-cli"];
const LOG_LEVEL = "WARN";

let work: string;
let outdir: string;
let stack: TeamstackStack;
let template: Template;
let resources: Record<string, Resource>;
/** The fresh-clone synth, under cdk-nag. */
let nag: { stack: TeamstackStack; error: unknown; outdir: string };

beforeAll(() => {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as { context: Json };
  const cache = join(PROJECT_ROOT, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  work = mkdtempSync(join(cache, "teamstack-infra-test-"));
  outdir = join(work, "deploy");
  const app = new App({
    outdir,
    context: {
      ...cdkJson.context,
      [CONTEXT_KEYS.jwtIssuer]: ISSUER,
      [CONTEXT_KEYS.jwtAudience]: AUDIENCES.join(", "),
      [CONTEXT_KEYS.logLevel]: LOG_LEVEL,
    },
  });
  stack = new TeamstackStack(app, "Teamstack");
  app.synth();
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;

  // No bundling (cdk-nag reads the template, not the code); acknowledgements written to the template.
  const nagOut = join(work, "nag");
  const nagApp = new App({ outdir: nagOut, context: { ...cdkJson.context, "aws:cdk:bundling-stacks": [] } });
  const nagStack = new TeamstackStack(nagApp, "Teamstack");
  Validations.of(nagApp).addPlugins(
    new AwsSolutionsChecks(nagApp, { verbose: true, writeSuppressionsToCloudFormation: true }),
  );
  let error: unknown;
  try {
    nagApp.synth();
  } catch (e) {
    error = e;
  }
  nag = { stack: nagStack, error, outdir: nagOut };
}, 300_000); // bundles every Lambda (26) with esbuild: minutes on a loaded 2-core machine

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const MACHINES = [
  { id: "Provision", file: "provision.asl.json", name: "Teamstack-Provision" },
  { id: "Destroy", file: "destroy.asl.json", name: "Teamstack-Destroy" },
  { id: "Power", file: "power.asl.json", name: "Teamstack-Power" },
] as const;

/** What a function that sets stacks' expiry schedules is granted: the group's schedules, the scheduler's role. */
function scheduleGrants(): [string, string[]][] {
  const schedules = arnOf("scheduler:schedule/Teamstack-expiry/*");
  return [
    ["scheduler:CreateSchedule", [schedules]],
    ["scheduler:UpdateSchedule", [schedules]],
    ["scheduler:DeleteSchedule", [schedules]],
    ["iam:PassRole", [`{${logicalId("Expiry", "SchedulerRole")}.Arn}`]],
  ];
}

function handlerFolders(): string[] {
  const dir = join(PROJECT_ROOT, "lambdas");
  return readdirSync(dir)
    .filter((f) => existsSync(join(dir, f, "handler.ts")))
    .sort();
}

function taskFolders(): string[] {
  return handlerFolders().filter((f) => !NON_TASK_HANDLERS.has(f));
}

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function props(logicalId: string): Json {
  const r = resources[logicalId];
  if (!r) throw new Error(`no resource ${logicalId}`);
  return r.Properties;
}

/** The logical id of the resource a construct path (below the stack) names. */
function logicalId(...path: string[]): string {
  let c = stack.node.findChild(path[0] as string);
  for (const id of path.slice(1)) c = c.node.findChild(id);
  return stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
}

/** The logical id of a task function, from its stable construct path `Tasks/<Name>/Function`. */
function functionLogicalId(name: string): string {
  return logicalId("Tasks", name, "Function");
}

/** The folder under lambdas/ → the logical id of its function. */
function functionOfFolder(folder: string): string {
  if (folder === "api") return logicalId("Api", "Handler", "Function");
  if (folder === "signup") return logicalId("Signup", "Handler", "Function");
  if (folder === "rollout") return logicalId("Rollouts", "Handler", "Function");
  return functionLogicalId(pascalCase(folder));
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
  if (typeof v["Fn::Sub"] === "string") return (v["Fn::Sub"] as string).replace(/\$\{([\w:]+)\}/g, "{$1}");
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

  it("turns on point-in-time recovery, AWS-managed encryption and a TTL on purgeAt (destroyed stacks' records), and is retained", () => {
    template.resourceCountIs("AWS::DynamoDB::Table", 1);
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      Properties: {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: "purgeAt", Enabled: true },
      },
    });
    const [[id] = []] = ofType("AWS::DynamoDB::Table");
    // AWS-managed key: no customer key named.
    expect((props(id as string).SSESpecification as Json).KMSMasterKeyId).toBeUndefined();
  });
});

/** `logs:*` on the function's own log group, as every function's role has. */
function logGrants(fnId: string): [string, string[]][] {
  const group = ((props(fnId).LoggingConfig as Json).LogGroup as { Ref: string }).Ref;
  return [
    ["logs:CreateLogStream", [`{${group}.Arn}`]],
    ["logs:PutLogEvents", [`{${group}.Arn}`]],
  ];
}

const arnOf = (rest: string) =>
  `arn:{AWS::Partition}:${rest.replace(/^(\w+):/, "$1:{AWS::Region}:{AWS::AccountId}:")}`;
const SECRETS_ARN = arnOf("secretsmanager:secret:teamstack/*");
/** Roles of teams' accounts: any account, roles named teamstack-* (infra/team-role.yaml). */
const TEAM_ROLES = "arn:{AWS::Partition}:iam::*:role/teamstack-*";

const TEAMSTACK_SECRETS =
  "arn:{AWS::Partition}:secretsmanager:{AWS::Region}:{AWS::AccountId}:secret:teamstack/*";

/** What a StackService function (the API, signup) is granted for an access declaration. */
function serviceGrants(access: ServiceAccess): [string, string[]][] {
  const [[tableId] = []] = ofType("AWS::DynamoDB::Table");
  const out: [string, string[]][] = access.table.map((a) => [`dynamodb:${a}`, [`{${tableId}.Arn}`]]);
  if (access.queriesStacksIndex) {
    const query = out.find(([a]) => a === "dynamodb:Query");
    const index = `{${tableId}.Arn}/index/gsi1`;
    if (query) query[1] = [...query[1], index];
    else out.push(["dynamodb:Query", [index]]);
  }
  if (access.starts.length > 0) {
    out.push([
      "states:StartExecution",
      access.starts.map(
        (m) => `{${machineLogicalId(m === "provision" ? "Provision" : m === "power" ? "Power" : "Destroy")}}`,
      ),
    ]);
  }
  if (access.describesExecutions) {
    out.push(["states:DescribeExecution", MACHINES.map((m) => arnOf(`states:execution:${m.name}:*`))]);
  }
  if (access.settlesReadiness) {
    const arns = [
      arnOf("states:stateMachine:Teamstack-Provision"),
      arnOf("states:stateMachine:Teamstack-Provision/*"),
    ];
    out.push(["states:SendTaskSuccess", arns], ["states:SendTaskFailure", arns]);
    // The callback secret, and the stack's secrets to mask what the instance reports.
    out.push([
      "secretsmanager:GetSecretValue",
      [`{${logicalId("CallbackSecret")}}`, TEAMSTACK_SECRETS].sort(),
    ]);
  }
  if (access.describesSecrets) out.push(["secretsmanager:DescribeSecret", [TEAMSTACK_SECRETS]]);
  if (access.setsSchedules) out.push(...scheduleGrants());
  // exec: through the providers, as the task functions that act through them (the team's role).
  if (access.actsThroughProviders) out.push(["sts:AssumeRole", [TEAM_ROLES]]);
  return out;
}

function expectGrants(fnId: string, expected: [string, string[]][], label: string): void {
  const merged = new Map<string, string[]>();
  for (const [a, r] of [...logGrants(fnId), ...expected])
    merged.set(a, [...(merged.get(a) ?? []), ...r].sort());
  expect(Object.fromEntries(grants(roleOfFunction(fnId))), label).toEqual(Object.fromEntries(merged));
}

describe("the Lambda functions", () => {
  it("declares permissions for exactly the task folders under lambdas/, and deploys every handler", () => {
    expect(Object.keys(TASK_ACCESS).sort()).toEqual(taskFolders());
    template.resourceCountIs("AWS::Lambda::Function", handlerFolders().length);
    for (const folder of handlerFolders())
      expect(resources[functionOfFolder(folder)]?.Type, folder).toBe("AWS::Lambda::Function");
  });

  it("runs every function on Node 24, arm64, with exactly the names it reads", () => {
    const [[tableId] = []] = ofType("AWS::DynamoDB::Table");
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    const machines = {
      PROVISION_STATE_MACHINE_ARN: { Ref: machineLogicalId("Provision") },
      DESTROY_STATE_MACHINE_ARN: { Ref: machineLogicalId("Destroy") },
    };
    const callbackSecret = { CALLBACK_SECRET_ARN: { Ref: logicalId("CallbackSecret") } };
    // Where stacks' ttl and auto_stop schedules go: the group, the scheduler's role, and (for the
    // task functions) the machines a schedule starts, by name.
    const schedulerRole = { "Fn::GetAtt": [logicalId("Expiry", "SchedulerRole"), "Arn"] };
    const scheduleGroup = { SCHEDULE_GROUP_NAME: "Teamstack-expiry", SCHEDULER_ROLE_ARN: schedulerRole };
    const byName = (name: string) =>
      `arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:stateMachine:${name}`;
    for (const folder of handlerFolders()) {
      const p = props(functionOfFolder(folder));
      expect(p.Runtime, folder).toBe("nodejs24.x");
      expect(p.Architectures, folder).toEqual(["arm64"]);
      expect(p.Handler, folder).toBe("index.handler");
      expect(p.Description, folder).toContain(`lambdas/${folder}/handler.ts`);
      const { CALLBACK_BASE_URL: baseUrl, ...all } = (p.Environment as { Variables: Json }).Variables;
      const access = TASK_ACCESS[folder];
      const signs = access !== undefined && signsReadinessCallbacks(access);
      const { DESTROY_STATE_MACHINE_ARN: destroyArn, POWER_STATE_MACHINE_ARN: powerArn, ...rest } = all;
      const variables = access?.setsSchedules ? rest : all;
      if (access?.setsSchedules) {
        expect(render(destroyArn), folder).toBe(byName("Teamstack-Destroy"));
        expect(render(powerArn), folder).toBe(byName("Teamstack-Power"));
      }
      expect(variables, folder).toEqual(
        folder === "api"
          ? {
              TABLE_NAME: { Ref: tableId },
              ...machines,
              POWER_STATE_MACHINE_ARN: { Ref: machineLogicalId("Power") },
              ...scheduleGroup,
              ...callbackSecret,
              EVENT_BUS_NAME: { Ref: busId },
            }
          : folder === "signup"
            ? {
                TABLE_NAME: { Ref: tableId },
                ...machines,
                POWER_STATE_MACHINE_ARN: { Ref: machineLogicalId("Power") },
              }
            : folder === "rollout"
              ? { TABLE_NAME: { Ref: tableId }, ...machines, EVENT_BUS_NAME: { Ref: busId } }
              : {
                  TABLE_NAME: { Ref: tableId },
                  EVENT_BUS_NAME: { Ref: busId },
                  ...(signs ? callbackSecret : {}),
                  ...(access?.setsSchedules ? scheduleGroup : {}),
                },
      );
      // Servers call back to the HTTP API's default endpoint.
      const [[apiId] = []] = ofType("AWS::ApiGatewayV2::Api");
      expect(baseUrl === undefined ? undefined : render(baseUrl), folder).toBe(
        signs ? `{${apiId}.ApiEndpoint}` : undefined,
      );
    }
  });

  it("logs each function to a log group of its own, kept a month and deleted with the stack", () => {
    const groups = new Set<string>();
    for (const folder of handlerFolders()) {
      const group = ((props(functionOfFolder(folder)).LoggingConfig as Json).LogGroup as { Ref: string }).Ref;
      groups.add(group);
      expect(resources[group]?.Type, folder).toBe("AWS::Logs::LogGroup");
      expect(props(group).LogGroupName, folder).toBe(`/teamstack/Teamstack/lambda/${folder}`);
      expect(props(group).RetentionInDays, folder).toBe(30);
      expect(resources[group]?.DeletionPolicy, folder).toBe("Delete");
    }
    expect(groups.size).toBe(handlerFolders().length);
  });

  it("logs in Lambda's JSON format at the deployment's level, from every handler, never an event whole", () => {
    for (const folder of handlerFolders()) {
      expect(props(functionOfFolder(folder)).LoggingConfig, folder).toMatchObject({
        LogFormat: "JSON",
        ApplicationLogLevel: LOG_LEVEL,
        SystemLogLevel: "WARN",
      });
      const source = readFileSync(join(PROJECT_ROOT, "lambdas", folder, "handler.ts"), "utf8");
      expect(source, folder).toMatch(/\.use\(lambdaLogging\(\)\)/);
    }
    // No logging library in the bundles: Lambda formats and filters the functions' console lines.
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(
      Object.keys(pkg.dependencies).filter((name) => name.startsWith("@aws-lambda-powertools/")),
    ).toEqual([]);
  });

  it("builds each task function from its own folder's handler.ts", () => {
    for (const folder of taskFolders()) {
      const task = stack.tasks.functions.find((f) => f.folder === folder);
      expect(task?.entry).toBe(join(PROJECT_ROOT, "lambdas", folder, "handler.ts"));
      expect(stack.getLogicalId(task?.fn.node.defaultChild as CfnElement)).toBe(
        functionLogicalId(pascalCase(folder)),
      );
    }
  });

  it("bundles every function into the one minified ESM file esbuildOptions() builds, loading on this Node", async () => {
    const manifestFile = readdirSync(outdir).find((f) => f.endsWith(".assets.json")) as string;
    const manifest = JSON.parse(readFileSync(join(outdir, manifestFile), "utf8")) as {
      files: Record<string, { source: { path: string } }>;
    };
    const bundles: string[] = [];
    const env: Record<string, string> = { AWS_REGION: "us-east-1" };
    for (const folder of handlerFolders()) {
      const p = props(functionOfFolder(folder));
      const code = p.Code as { S3Key: string };
      const asset = manifest.files[code.S3Key.replace(/\.zip$/, "")];
      expect(asset, folder).toBeDefined();
      const dir = join(outdir, asset?.source.path as string);
      expect(readdirSync(dir), folder).toEqual(["index.mjs"]);
      const text = readFileSync(join(dir, "index.mjs"), "utf8");
      expect(text.startsWith(ESM_REQUIRE_BANNER), folder).toBe(true);
      // The handler is exported; esbuild may append the bundled license notices after it.
      expect(text.slice(-2000), folder).toMatch(
        /export\s*\{[^}]*\bas handler\b[^}]*\};?\s*(\/\*![\s\S]*\*\/\s*)?$/,
      );
      // Minified: a few hundred kilobytes on a few hundred lines at most.
      expect(text.split("\n").length, folder).toBeLessThan(text.length / 1000);
      // The AWS SDK comes from the Lambda runtime.
      expect(/from\s*"@aws-sdk\/client-dynamodb"/.test(text), folder).toBe(true);
      // npm run bench measures the very file the deployment uploads.
      const benchFile = join(work, "esbuild", folder, "index.mjs");
      await build(esbuildOptions(join(PROJECT_ROOT, "lambdas", folder, "handler.ts"), benchFile));
      expect(
        readFileSync(benchFile, "utf8") === text,
        `${folder}: esbuildOptions() builds the deployed file`,
      ).toBe(true);
      bundles.push(pathToFileURL(join(dir, "index.mjs")).href);
      for (const name of Object.keys((p.Environment as { Variables: Json }).Variables))
        env[name] ??= `dummy-${name}`;
    }
    // Importing runs each handler's cold start (clients are built, nothing is sent).
    const script = `for (const b of ${JSON.stringify(bundles)}) { const m = await import(b); if (typeof m.handler !== "function") throw new Error(b); }`;
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: "pipe",
    });
  });

  it("grants each task function only the actions its task calls, on the table itself", () => {
    const [[tableId] = []] = ofType("AWS::DynamoDB::Table");
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    for (const folder of taskFolders()) {
      const access = TASK_ACCESS[folder];
      if (!access) throw new Error(folder);
      const expected: [string, string[]][] = access.table.map((a) => [`dynamodb:${a}`, [`{${tableId}.Arn}`]]);
      if (access.sendsTaskTokens) {
        // The callback tasks of the machines that run the task.
        const arns = MACHINES.filter((m) =>
          readFileSync(join(PROJECT_ROOT, "statemachines", m.file), "utf8").includes(
            `\${${pascalCase(folder)}FunctionArn}`,
          ),
        ).flatMap((m) => [arnOf(`states:stateMachine:${m.name}`), arnOf(`states:stateMachine:${m.name}/*`)]);
        expect(arns, folder).not.toEqual([]);
        expected.push(["states:SendTaskSuccess", arns], ["states:SendTaskFailure", arns]);
      }
      if (access.describesExecutions) {
        expected.push([
          "states:DescribeExecution",
          MACHINES.map((m) => arnOf(`states:execution:${m.name}:*`)),
        ]);
      }
      if (access.publishesEvents) expected.push(["events:PutEvents", [`{${busId}.Arn}`]]);
      const secrets: string[] = [];
      if (access.readsSecrets || access.actsThroughProviders) secrets.push(SECRETS_ARN);
      if (signsReadinessCallbacks(access)) secrets.push(`{${logicalId("CallbackSecret")}}`);
      if (secrets.length > 0) expected.push(["secretsmanager:GetSecretValue", secrets]);
      if (access.actsThroughProviders) expected.push(["sts:AssumeRole", [TEAM_ROLES]]);
      if (access.setsSchedules) expected.push(...scheduleGrants());
      expectGrants(functionLogicalId(pascalCase(folder)), expected, folder);
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

  it("invokes only the functions its definition names, unqualified (no version or alias)", () => {
    const names = aslPlaceholders(text()).map((p) => p.replace(/FunctionArn$/, ""));
    const arns = names.map((n) => `{${functionLogicalId(n)}.Arn}`);
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

describe("expiry schedules", () => {
  it("makes one schedule group and a role that EventBridge Scheduler of this account assumes to start the destroy and power machines, and nothing else", () => {
    const groups = ofType("AWS::Scheduler::ScheduleGroup");
    expect(groups.map(([, r]) => r.Properties.Name)).toEqual(["Teamstack-expiry"]);
    const roleId = logicalId("Expiry", "SchedulerRole");
    const trust = props(roleId).AssumeRolePolicyDocument as { Statement: Json[] };
    expect(trust.Statement).toEqual([
      {
        Action: "sts:AssumeRole",
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
      },
    ]);
    expect(Object.fromEntries(grants(roleId))).toEqual({
      "states:StartExecution": [
        arnOf("states:stateMachine:Teamstack-Destroy"),
        arnOf("states:stateMachine:Teamstack-Power"),
      ].sort(),
    });
  });

  it("lets exactly the functions that set expiries manage the group's schedules and pass the scheduler's role", () => {
    const setters = [...taskFolders().filter((f) => TASK_ACCESS[f]?.setsSchedules), "api"].sort();
    expect(setters).toEqual(["api", "finalize", "finish-power", "on-failure", "prepare", "prepare-power"]);
    for (const folder of handlerFolders()) {
      const g = grants(roleOfFunction(functionOfFolder(folder)));
      expect(g.has("scheduler:CreateSchedule"), folder).toBe(setters.includes(folder));
      expect(g.has("iam:PassRole"), folder).toBe(setters.includes(folder));
    }
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
        // Wildcards only below one named resource: one machine's executions, teamstack's secrets.
        expect(target, actions.join(",")).toMatch(
          /:(stateMachine|execution):Teamstack-(Provision|Destroy|Power)(:\*|\/\*|\/\*:\*)$|:secret:teamstack\/\*$|:iam::\*:role\/teamstack-\*$|:schedule\/Teamstack-expiry\/\*$/,
        );
      }
    }
  });

  it("attaches no managed policy (AWSLambdaBasicExecutionRole would let a function write to any log group)", () => {
    for (const [id, role] of ofType("AWS::IAM::Role")) {
      expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
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

describe("the HTTP API", () => {
  const apiFn = () => logicalId("Api", "Handler", "Function");
  const [route] = [
    (key: string) => ofType("AWS::ApiGatewayV2::Route").find(([, r]) => r.Properties.RouteKey === key),
  ];

  it("sends every request to lambdas/api through one Lambda proxy integration, payload format 2.0", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Api", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" });
    template.resourceCountIs("AWS::ApiGatewayV2::Integration", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
      IntegrationType: "AWS_PROXY",
      PayloadFormatVersion: "2.0",
      IntegrationUri: { "Fn::GetAtt": [apiFn(), "Arn"] },
    });
    const [[integrationId] = []] = ofType("AWS::ApiGatewayV2::Integration");
    for (const [key, r] of ofType("AWS::ApiGatewayV2::Route")) {
      expect(render(r.Properties.Target), key).toBe(`integrations/{${integrationId}}`);
    }
  });

  it("puts every route behind the JWT authorizer but GET /openapi.json and the signed readiness callbacks", () => {
    const byKey = Object.fromEntries(
      ofType("AWS::ApiGatewayV2::Route").map(([, r]) => [
        r.Properties.RouteKey,
        r.Properties.AuthorizationType,
      ]),
    );
    expect(byKey).toEqual({
      "ANY /{proxy+}": "JWT",
      "GET /openapi.json": "NONE",
      "POST /callbacks/ready/{proxy+}": "NONE",
    });
    const [[authorizerId] = []] = ofType("AWS::ApiGatewayV2::Authorizer");
    expect(route("ANY /{proxy+}")?.[1].Properties.AuthorizerId).toEqual({ Ref: authorizerId });
    // The handler's own table agrees: what it serves without a token is exactly what API Gateway lets through.
    const open = (method: string, path: string) =>
      (method === "GET" && path === "/openapi.json") ||
      (method === "POST" && path.startsWith("/callbacks/ready/"));
    // serve's one-time sign-in and console config answer without a token there, not here.
    for (const r of ROUTES) {
      const key = `${r.method} ${r.path}`;
      expect(open(r.method, r.path), key).toBe(!r.auth && !SERVE_ONLY_OPEN.includes(key));
    }
  });

  it("takes the authorizer's issuer and audiences from the deployment's context", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Authorizer", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      AuthorizerType: "JWT",
      IdentitySource: ["$request.header.Authorization"],
      JwtConfiguration: { Issuer: ISSUER, Audience: AUDIENCES },
    });
  });

  it("logs every request as JSON to its own log group, leaving out paths (callbacks carry their signature)", () => {
    const [[, stage] = []] = ofType("AWS::ApiGatewayV2::Stage");
    const p = stage?.Properties as Json;
    expect(p.StageName).toBe("$default");
    expect(p.AutoDeploy).toBe(true);
    const logs = p.AccessLogSettings as { DestinationArn: unknown; Format: string };
    const group = render(logs.DestinationArn).replace(/^\{(\w+)\.Arn\}$/, "$1");
    expect(resources[group]?.Type).toBe("AWS::Logs::LogGroup");
    expect(props(group).LogGroupName).toBe("/teamstack/Teamstack/api-access");
    const fields = JSON.parse(logs.Format) as Record<string, string>;
    expect(fields).toMatchObject({
      requestId: "$context.requestId",
      routeKey: "$context.routeKey",
      status: "$context.status",
    });
    expect(logs.Format).not.toMatch(/\$context\.(path|rawPath|querystring)|\$request/);
  });

  it("throttles every route, and the public document more", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_THROTTLE.burstLimit,
      },
      RouteSettings: {
        "GET /openapi.json": {
          ThrottlingRateLimit: OPENAPI_THROTTLE.rateLimit,
          ThrottlingBurstLimit: OPENAPI_THROTTLE.burstLimit,
        },
      },
    });
    const [[stageId, stage] = []] = ofType("AWS::ApiGatewayV2::Stage");
    const openapiRoute = route("GET /openapi.json")?.[0] as string;
    expect(list(stage?.DependsOn ?? []), stageId).toContain(openapiRoute);
  });

  it("lets API Gateway invoke the function for this API's routes only", () => {
    const [[apiId] = []] = ofType("AWS::ApiGatewayV2::Api");
    const permissions = ofType("AWS::Lambda::Permission").filter(
      ([, p]) => (p.Properties.FunctionName as { "Fn::GetAtt": string[] })["Fn::GetAtt"][0] === apiFn(),
    );
    expect(permissions.map(([, p]) => render(p.Properties.SourceArn)).sort()).toEqual(
      ["/*/*/{proxy+}", "/*/*/openapi.json", "/*/*/callbacks/ready/{proxy+}"]
        .map((r) => `arn:{AWS::Partition}:execute-api:{AWS::Region}:{AWS::AccountId}:{${apiId}}${r}`)
        .sort(),
    );
    for (const [, p] of permissions) expect(p.Properties.Principal).toBe("apigateway.amazonaws.com");
  });

  it("grants the API function exactly API_ACCESS: the table and its index, starts and lock checks on both machines", () => {
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    // PutEvents: `Rollout Finished`, when a rollout ends in a request.
    expectGrants(apiFn(), [...serviceGrants(API_ACCESS), ["events:PutEvents", [`{${busId}.Arn}`]]], "api");
    expect(props(apiFn()).Timeout).toBe(29);
  });
});

describe("the readiness callback key", () => {
  it("is a generated secret that only CreateServer (signing) and the API (verifying) may read", () => {
    const id = logicalId("CallbackSecret");
    expect(resources[id]?.Type).toBe("AWS::SecretsManager::Secret");
    expect((props(id).GenerateSecretString as Json).PasswordLength).toBe(64);
    const readers = ofType("AWS::Lambda::Function")
      .filter(([fnId]) =>
        (grants(roleOfFunction(fnId)).get("secretsmanager:GetSecretValue") ?? []).includes(`{${id}}`),
      )
      .map(([fnId]) => fnId)
      .sort();
    expect(readers).toEqual(
      [functionLogicalId("CreateServer"), logicalId("Api", "Handler", "Function")].sort(),
    );
  });
});

describe("the signup consumer", () => {
  const signupFn = () => logicalId("Signup", "Handler", "Function");
  const queueId = () => logicalId("Signup", "DeadLetters");

  it("invokes lambdas/signup for Team Member Signed Up on teamstack's bus, retrying, with a dead-letter queue", () => {
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    // The signup rule, and the rollout advancer's (below).
    template.resourceCountIs("AWS::Events::Rule", 2);
    template.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: { Ref: busId },
      EventPattern: {
        source: [...SIGNUP_EVENT_PATTERN.source],
        "detail-type": [...SIGNUP_EVENT_PATTERN["detail-type"]],
      },
      State: "ENABLED",
      Targets: [
        {
          Arn: { "Fn::GetAtt": [signupFn(), "Arn"] },
          Id: Match.anyValue(),
          DeadLetterConfig: { Arn: { "Fn::GetAtt": [queueId(), "Arn"] } },
          RetryPolicy: {
            MaximumRetryAttempts: SIGNUP_DELIVERY.retryAttempts,
            MaximumEventAgeInSeconds: SIGNUP_DELIVERY.maxEventAge.toSeconds(),
          },
        },
      ],
    });
    const ruleId = logicalId("Signup", "Rule");
    template.hasResourceProperties("AWS::Lambda::Permission", {
      FunctionName: { "Fn::GetAtt": [signupFn(), "Arn"] },
      Principal: "events.amazonaws.com",
      SourceArn: { "Fn::GetAtt": [ruleId, "Arn"] },
    });
  });

  it("sends an invocation that still fails after Lambda's retries to the same queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: signupFn() },
      MaximumRetryAttempts: SIGNUP_INVOKE_RETRIES,
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [queueId(), "Arn"] } } },
    });
  });

  it("encrypts the dead-letter queue, keeps messages 14 days and refuses requests without TLS", () => {
    expect(props(queueId())).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    const [[, policy] = []] = ofType("AWS::SQS::QueuePolicy").filter(([, p]) =>
      (p.Properties.Queues as Json[]).some((q) => q.Ref === queueId()),
    );
    if (!policy) throw new Error("the dead-letter queue has no policy");
    const statements = (policy.Properties.PolicyDocument as { Statement: Json[] }).Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: "Deny",
        Action: "sqs:*",
        Principal: { AWS: "*" },
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    );
    // Only the signup rule may send to it, besides the function's role (its failed invocations).
    const ruleId = logicalId("Signup", "Rule");
    const allows = statements.filter((st) => st.Effect === "Allow");
    expect(allows).toEqual([
      expect.objectContaining({
        Action: "sqs:SendMessage",
        Principal: { Service: "events.amazonaws.com" },
        Condition: { ArnEquals: { "aws:SourceArn": { "Fn::GetAtt": [ruleId, "Arn"] } } },
      }),
    ]);
  });

  it("grants the signup function exactly SIGNUP_ACCESS, and sending its failures to the queue", () => {
    const queue = `{${queueId()}.Arn}`;
    expectGrants(
      signupFn(),
      [
        ...serviceGrants(SIGNUP_ACCESS),
        // Lambda's SqsDestination grant: what the function's role needs to deliver a failure record.
        ["sqs:SendMessage", [queue]],
        ["sqs:GetQueueAttributes", [queue]],
        ["sqs:GetQueueUrl", [queue]],
      ],
      "signup",
    );
  });
});

describe("the deployment's context", () => {
  it("builds with fail-closed placeholders and warns when no issuer or audience is given", () => {
    const t = Template.fromStack(nag.stack);
    t.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      JwtConfiguration: { Issuer: PLACEHOLDER_JWT_ISSUER, Audience: [PLACEHOLDER_JWT_AUDIENCE] },
    });
    expect(PLACEHOLDER_JWT_ISSUER).toMatch(/\.invalid(\/|$)/);
    Annotations.fromStack(nag.stack).hasWarning(
      "/Teamstack",
      Match.stringLikeRegexp(`${CONTEXT_KEYS.jwtIssuer} and ${CONTEXT_KEYS.jwtAudience} not set`),
    );
    expect(nag.stack.config.logLevel).toBe("INFO");
  });

  it("rejects a malformed issuer, audience or log level, naming the key and the value", () => {
    const config = (context: Record<string, unknown>) => readDeployConfig(new App({ context }).node);
    expect(
      config({ [CONTEXT_KEYS.jwtIssuer]: ISSUER, [CONTEXT_KEYS.jwtAudience]: "a" }).placeholders,
    ).toEqual([]);
    expect(() => config({ [CONTEXT_KEYS.jwtIssuer]: "http://login.example.com" })).toThrow(
      /teamstack:jwtIssuer: expected .*https.*found `http:\/\/login\.example\.com`/,
    );
    expect(() => config({ [CONTEXT_KEYS.jwtAudience]: "a,,b" })).toThrow(
      /teamstack:jwtAudience: .*found `a,,b`/,
    );
    expect(() => config({ [CONTEXT_KEYS.logLevel]: "chatty" })).toThrow(
      /teamstack:logLevel: expected one of DEBUG, INFO, WARN, ERROR, found `CHATTY`/,
    );
  });
});

describe("cdk-nag AwsSolutions", () => {
  /** Every acknowledgement written into the template, by logical id, each with its reason. */
  function acknowledgements(): { logicalId: string; id: string; reason: string }[] {
    const file = readdirSync(nag.outdir).find((f) => f.endsWith(".template.json")) as string;
    const t = JSON.parse(readFileSync(join(nag.outdir, file), "utf8")) as {
      Resources: Record<string, { Metadata?: Json }>;
    };
    return Object.entries(t.Resources).flatMap(([logicalId, r]) => {
      const rules = ((r.Metadata?.cdk_nag as Json | undefined)?.rules_to_suppress ?? []) as {
        id: string;
        reason: string;
      }[];
      return rules.map((rule) => ({ logicalId, ...rule }));
    });
  }

  it("finds nothing unacknowledged", () => {
    const report = join(nag.outdir, "validation-report.json");
    // The report also carries the stack's own annotations (the JWT placeholders' warning).
    const violations = existsSync(report)
      ? (
          JSON.parse(readFileSync(report, "utf8")) as {
            pluginReports: { violations: { ruleName: string }[] }[];
          }
        ).pluginReports
          .flatMap((p) => p.violations)
          .filter((v) => !v.ruleName.startsWith("Annotation::"))
      : [];
    expect(violations).toEqual([]);
    expect(nag.error).toBeUndefined();
  });

  it("acknowledges only the reviewed findings, each by its exact id with a reason", () => {
    const acks = acknowledgements();
    for (const a of acks) expect(a.reason.length, `${a.logicalId} ${a.id}`).toBeGreaterThan(60);
    const arn = (rest: string) =>
      `arn:<AWS::Partition>:${rest.replace(/^(\w+):/, "$1:<AWS::Region>:<AWS::AccountId>:")}`;
    const iam5 = (resource: string) => `AwsSolutions-IAM5[Resource::${resource}]`;
    expect([...new Set(acks.map((a) => a.id))].sort()).toEqual(
      [
        "AwsSolutions-APIG4",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",
        iam5("*"),
        iam5(arn("states:execution:Teamstack-Provision:*")),
        iam5(arn("states:execution:Teamstack-Destroy:*")),
        iam5(arn("states:execution:Teamstack-Provision/*")),
        iam5(arn("states:execution:Teamstack-Provision/*:*")),
        iam5(arn("states:stateMachine:Teamstack-Provision/*")),
        iam5(arn("states:execution:Teamstack-Destroy/*")),
        iam5(arn("states:execution:Teamstack-Destroy/*:*")),
        iam5(arn("states:stateMachine:Teamstack-Destroy/*")),
        iam5(arn("states:execution:Teamstack-Power:*")),
        iam5(arn("states:execution:Teamstack-Power/*")),
        iam5(arn("states:execution:Teamstack-Power/*:*")),
        iam5(arn("states:stateMachine:Teamstack-Power/*")),
        iam5(arn("scheduler:schedule/Teamstack-expiry/*")),
        iam5(arn("secretsmanager:secret:teamstack/*")),
        iam5("arn:<AWS::Partition>:iam::*:role/teamstack-*"),
      ].sort(),
    );
    // APIG4 exactly on the routes without an authorizer.
    const open = Template.fromStack(nag.stack).findResources("AWS::ApiGatewayV2::Route", {
      Properties: { AuthorizationType: "NONE" },
    });
    expect(
      acks
        .filter((a) => a.id === "AwsSolutions-APIG4")
        .map((a) => a.logicalId)
        .sort(),
    ).toEqual(Object.keys(open).sort());
  });
});

describe("the rollout advancer", () => {
  const rolloutFn = () => logicalId("Rollouts", "Handler", "Function");
  const queueId = () => logicalId("Rollouts", "DeadLetters");

  it("invokes lambdas/rollout for teamstack's own Stack Provisioned / Stack Failed, retrying, with a dead-letter queue", () => {
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    const ruleId = logicalId("Rollouts", "Rule");
    expect(props(ruleId)).toMatchObject({
      EventBusName: { Ref: busId },
      EventPattern: {
        source: [...STACK_EVENTS_PATTERN.source],
        "detail-type": [...STACK_EVENTS_PATTERN["detail-type"]],
      },
      State: "ENABLED",
      Targets: [
        {
          Arn: { "Fn::GetAtt": [rolloutFn(), "Arn"] },
          Id: expect.any(String),
          DeadLetterConfig: { Arn: { "Fn::GetAtt": [queueId(), "Arn"] } },
          RetryPolicy: {
            MaximumRetryAttempts: ROLLOUT_DELIVERY.retryAttempts,
            MaximumEventAgeInSeconds: ROLLOUT_DELIVERY.maxEventAge.toSeconds(),
          },
        },
      ],
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      FunctionName: { "Fn::GetAtt": [rolloutFn(), "Arn"] },
      Principal: "events.amazonaws.com",
      SourceArn: { "Fn::GetAtt": [ruleId, "Arn"] },
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: rolloutFn() },
      MaximumRetryAttempts: ROLLOUT_INVOKE_RETRIES,
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [queueId(), "Arn"] } } },
    });
    expect(props(queueId())).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  it("grants lambdas/rollout exactly ROLLOUT_ACCESS and PutEvents (Rollout Finished) on teamstack's bus", () => {
    const [[busId] = []] = ofType("AWS::Events::EventBus");
    expectGrants(
      rolloutFn(),
      [
        ...serviceGrants(ROLLOUT_ACCESS),
        ["events:PutEvents", [`{${busId}.Arn}`]],
        // The invocation's on-failure destination: its dead-letter queue.
        ...(["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"] as const).map(
          (a): [string, string[]] => [a, [`{${queueId()}.Arn}`]],
        ),
      ],
      "rollout",
    );
  });
});
