import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Duration } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import type { EventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Architecture, Runtime } from "aws-cdk-lib/aws-lambda";
import { LogLevel, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { Construct } from "constructs";

/** DynamoDB actions a task may need, on the table itself (no task queries the `gsi1` index). */
export type TableAction = "GetItem" | "Query" | "PutItem" | "UpdateItem";

/** What one task function calls, and so all it is granted. */
export interface TaskAccess {
  /** Store operations it reaches (every UpdateItem may read the item back after a failed condition). */
  readonly table: readonly TableAction[];
  /** Settles callback tasks: states:SendTaskSuccess and states:SendTaskFailure. */
  readonly sendsTaskTokens: boolean;
  /** Asks whether a lock holder's execution still runs: states:DescribeExecution. */
  readonly describesExecutions: boolean;
  /** Emits `Stack Provisioned` / `Stack Failed`: events:PutEvents on teamstack's bus. */
  readonly publishesEvents: boolean;
  /** The Lambda timeout: the Task's TimeoutSeconds in the ASL (callback tasks return at once). */
  readonly timeoutSeconds: number;
}

/**
 * Each task folder under lambdas/, and what it may do: read off src/pipeline/steps.ts and the
 * DynamoDB store (src/store/dynamo-store.ts), and checked against the running code by
 * test/infra/task-access.test.ts. A new folder must be added here (or to NON_TASK_HANDLERS), so
 * that its permissions are decided rather than inherited.
 */
export const TASK_ACCESS: Readonly<Record<string, TaskAccess>> = {
  // lock (get, conditional update), list servers and hooks, put server records, update the stack,
  // append events; a held lock's execution is checked with DescribeExecution.
  prepare: {
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: true,
    publishesEvents: false,
    timeoutSeconds: 120,
  },
  // parks the token (conditional update), appends an event, may release its own token.
  "wait-for-dependencies": {
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 60,
  },
  "create-server": {
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 300,
  },
  // records the token, waits for readiness within the invocation (sim), settles the token.
  "wait-until-ready": {
    table: ["GetItem", "UpdateItem"],
    sendsTaskTokens: true,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 900,
  },
  // marks the server ready and releases its dependents' wait tokens.
  "publish-artifacts": {
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 120,
  },
  // marks the server failed and fails its dependents' wait tokens.
  "mark-server-failed": {
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 120,
  },
  "check-servers": {
    table: ["GetItem", "Query"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 120,
  },
  "run-hook": {
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 900,
  },
  // stores the stack artifacts, lists the servers for the Stack Provisioned event, unlocks.
  finalize: {
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: true,
    timeoutSeconds: 120,
  },
  // rollback lists the run's servers and destroys them (provision gives it 900 s); Stack Failed.
  "on-failure": {
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: true,
    timeoutSeconds: 900,
  },
  // RunFailed: arms or consumes the redrive marker on the stack; on a redrive, Prepare again.
  resume: {
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: true,
    publishesEvents: false,
    timeoutSeconds: 120,
  },
  "destroy-server": {
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: false,
    describesExecutions: false,
    publishesEvents: false,
    timeoutSeconds: 600,
  },
};

/**
 * Handlers under lambdas/ that are not state machine tasks: the HTTP API and the EventBridge
 * consumer. They are deployed with the HTTP API and the event rules, not here.
 */
export const NON_TASK_HANDLERS: ReadonlySet<string> = new Set(["api", "signup"]);

/**
 * Lets CommonJS dependencies bundled into an ESM file (`yaml` requires `process`) call `require`.
 * The import is aliased so that it cannot clash with a name in the bundle.
 */
export const ESM_REQUIRE_BANNER =
  "import{createRequire as __teamstackCreateRequire}from'node:module';const require=__teamstackCreateRequire(import.meta.url);";

/** `wait-for-dependencies` → `WaitForDependencies`: the function's construct id and ASL placeholder stem. */
export function pascalCase(kebab: string): string {
  return kebab
    .split("-")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/** One task function with the folder it is built from. */
export interface TaskFunction {
  /** The folder under lambdas/, e.g. `wait-for-dependencies`. */
  readonly folder: string;
  /** `WaitForDependencies`: the ASL names it `${WaitForDependenciesFunctionArn}`. */
  readonly name: string;
  /** The bundled entry file. */
  readonly entry: string;
  readonly access: TaskAccess;
  readonly fn: NodejsFunction;
}

export interface TaskFunctionsProps {
  /** The repository root (holds lambdas/ and package-lock.json). */
  readonly projectRoot: string;
  readonly table: Table;
  /** Where Stack Provisioned / Stack Failed go; every task builds its publisher at cold start. */
  readonly eventBus: EventBus;
}

/**
 * One Lambda per task folder under lambdas/ (a handler.ts, not in NON_TASK_HANDLERS): bundled
 * locally by esbuild (no Docker) into minified ESM for Node 24 on arm64, the AWS SDK included (the
 * versions the project pins, not the runtime's), with TABLE_NAME and EVENT_BUS_NAME set and only
 * the table actions it calls granted (and PutEvents to those that publish).
 * @throws Error when a folder has no entry in TASK_ACCESS (or an entry has no folder), or when
 *   esbuild is not installed (the CDK would fall back to Docker).
 */
export class TaskFunctions extends Construct {
  readonly functions: readonly TaskFunction[];

  constructor(scope: Construct, id: string, props: TaskFunctionsProps) {
    super(scope, id);
    requireLocalEsbuild(props.projectRoot);
    const lambdasDir = join(props.projectRoot, "lambdas");
    const folders = readdirSync(lambdasDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(lambdasDir, d.name, "handler.ts")))
      .filter((d) => !NON_TASK_HANDLERS.has(d.name))
      .map((d) => d.name)
      .sort();
    const unknown = folders.filter((f) => TASK_ACCESS[f] === undefined);
    if (unknown.length > 0) {
      throw new Error(
        `lambdas/${unknown.join(", lambdas/")}: no permissions declared; add ${unknown.length === 1 ? "it" : "them"} to TASK_ACCESS in infra/constructs/task-functions.ts`,
      );
    }
    const missing = Object.keys(TASK_ACCESS).filter((f) => !folders.includes(f));
    if (missing.length > 0) {
      throw new Error(`TASK_ACCESS names lambdas/${missing.join(", lambdas/")}, which has no handler.ts`);
    }

    this.functions = folders.map((folder) => {
      const access = TASK_ACCESS[folder] as TaskAccess;
      const name = pascalCase(folder);
      const entry = join(lambdasDir, folder, "handler.ts");
      const fn = new NodejsFunction(this, `${name}Function`, {
        entry,
        handler: "handler",
        description: `teamstack ${name} task (lambdas/${folder}/handler.ts)`,
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        memorySize: 512,
        timeout: Duration.seconds(access.timeoutSeconds),
        environment: { TABLE_NAME: props.table.tableName, EVENT_BUS_NAME: props.eventBus.eventBusName },
        projectRoot: props.projectRoot,
        depsLockFilePath: join(props.projectRoot, "package-lock.json"),
        bundling: {
          format: OutputFormat.ESM,
          mainFields: ["module", "main"],
          target: "node24",
          minify: true,
          sourceMap: false,
          externalModules: [],
          banner: ESM_REQUIRE_BANNER,
          forceDockerBundling: false,
          logLevel: LogLevel.WARNING,
        },
      });
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: access.table.map((action) => `dynamodb:${action}`),
          resources: [props.table.tableArn],
        }),
      );
      if (access.publishesEvents) props.eventBus.grantPutEventsTo(fn);
      return { folder, name, entry, access, fn };
    });
  }

  /**
   * The function the ASL placeholder `${<Name>FunctionArn}` stands for.
   * @throws Error naming the placeholder when no function matches it.
   */
  forPlaceholder(placeholder: string): TaskFunction {
    const found = this.functions.find((f) => `${f.name}FunctionArn` === placeholder);
    if (!found) {
      const known = this.functions.map((f) => `\${${f.name}FunctionArn}`).join(", ");
      throw new Error(`no task function for \${${placeholder}}; expected one of ${known}`);
    }
    return found;
  }
}

/** NodejsFunction silently bundles in Docker when it finds no esbuild; we want a clear error instead. */
function requireLocalEsbuild(projectRoot: string): void {
  try {
    createRequire(join(projectRoot, "package.json")).resolve("esbuild");
  } catch {
    throw new Error(
      "esbuild is not installed: run `npm ci` (the task functions are bundled locally, not in Docker)",
    );
  }
}
