import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Duration } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import type { EventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { DeploymentGrant, ProviderDeclaration } from "../../src/core/providers.ts";
import { PROVIDERS } from "../../src/providers/registry.ts";
import type { ExpirySchedules } from "./expiry-schedules.ts";
import {
  type FunctionLogLevel,
  grantProviderStatement,
  grantReadSecrets,
  TeamstackFunction,
} from "./lambda-function.ts";

/** DynamoDB actions a function may need on the table itself (only the API queries the `gsi1` index). */
export type TableAction = "GetItem" | "BatchGetItem" | "Query" | "PutItem" | "UpdateItem" | "DeleteItem";

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
  /**
   * Reads the member's and team's secrets a stack uses (src/pipeline/secrets.ts runSecrets):
   * secretsmanager:GetSecretValue on `teamstack/*` (src/secrets/aws-secrets.ts names them so).
   */
  readonly readsSecrets: boolean;
  /**
   * Acts through the providers (creates, destroys, runs scripts on servers): it gets what the
   * deployed providers' declarations ask for (see providerNeeds: the aws provider's sts:AssumeRole
   * on teams' roles, and the teams' credential secrets under `teamstack/`).
   */
  readonly actsThroughProviders: boolean;
  /**
   * Creates servers: when a deployed provider's servers report their own readiness (`callback`),
   * it signs the URL they boot with, so it gets CALLBACK_BASE_URL (the HTTP API) and
   * CALLBACK_SECRET_ARN, with read access to that secret.
   */
  readonly createsServers: boolean;
  /**
   * Sets stacks' ttl and auto_stop schedules (src/pipeline/expiry.ts): scheduler:Create/Update/
   * DeleteSchedule in teamstack's schedule group and iam:PassRole on the scheduler's role, with the
   * group, role and machines in its environment.
   */
  readonly setsSchedules: boolean;
  /** The Lambda timeout: the Task's TimeoutSeconds in the ASL (callback tasks return at once). */
  readonly timeoutSeconds: number;
}

/** What the deployed providers ask of the functions that act through them: read off their declarations. */
export interface ProviderNeeds {
  /** IAM statements (the aws provider: sts:AssumeRole on teams' `teamstack-*` roles). */
  readonly grants: readonly DeploymentGrant[];
  /** Teams' credential secrets, below `teamstack/` in Secrets Manager. */
  readonly readsCredentialSecrets: boolean;
  /** Some provider's servers report their own readiness (`callback`): creating one signs its URL. */
  readonly signsReadinessCallbacks: boolean;
}

/** The needs of the registry's providers that run in Lambda (or of `declarations`). */
export function providerNeeds(
  declarations: readonly ProviderDeclaration[] = PROVIDERS.declarations,
): ProviderNeeds {
  const deployed = declarations.filter((d) => d.runsIn.includes("lambda"));
  return {
    grants: deployed.flatMap((d) => d.deployment?.grants ?? []),
    readsCredentialSecrets: deployed.some((d) => d.deployment?.readsCredentialSecrets === true),
    signsReadinessCallbacks: deployed.some((d) => d.capabilities.readiness === "callback"),
  };
}

/** Whether a function with this access signs readiness callbacks under these providers. */
export function signsReadinessCallbacks(access: TaskAccess, needs: ProviderNeeds = providerNeeds()): boolean {
  return access.createsServers && needs.signsReadinessCallbacks;
}

/** What a task may not do unless its entry says otherwise: every grant is written where it is given. */
const NO_ACCESS = {
  sendsTaskTokens: false,
  describesExecutions: false,
  readsSecrets: false,
  publishesEvents: false,
  actsThroughProviders: false,
  createsServers: false,
  setsSchedules: false,
} as const satisfies Partial<TaskAccess>;

/** Prepare's access; RunFailed (resume) prepares again on a redrive, so it needs the same. */
const PREPARE_ACCESS: TaskAccess = {
  ...NO_ACCESS,
  // DeleteItem: the record of a server an update removes, when nothing of it exists.
  table: ["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"],
  describesExecutions: true,
  timeoutSeconds: 120,
};

/**
 * Each task folder under lambdas/, and what it may do: read off src/pipeline/steps.ts (and
 * destroy.ts for the destroy machine's own tasks) and the
 * DynamoDB store (src/store/dynamo-store.ts), and checked against the running code by
 * test/infra/task-access.test.ts. A new folder must be added here (or to NON_TASK_HANDLERS), so
 * that its permissions are decided rather than inherited.
 */
export const TASK_ACCESS: Readonly<Record<string, TaskAccess>> = {
  // lock (get, conditional update), list servers and hooks, put server records, update the stack,
  // append events; a held lock's execution is checked with DescribeExecution. A ttl's destroy
  // records Stack Expired, or moves its schedule on when the stack is busy.
  prepare: { ...PREPARE_ACCESS, publishesEvents: true, setsSchedules: true },
  // parks the token (conditional update), appends an event, may release its own token.
  "wait-for-dependencies": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    timeoutSeconds: 60,
  },
  "create-server": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    readsSecrets: true,
    actsThroughProviders: true,
    createsServers: true,
    timeoutSeconds: 300,
  },
  // records the token, waits for readiness within the invocation (sim), settles the token.
  "wait-until-ready": {
    ...NO_ACCESS,
    table: ["GetItem", "UpdateItem"],
    sendsTaskTokens: true,
    readsSecrets: true,
    timeoutSeconds: 900,
  },
  // marks the server ready and releases its dependents' wait tokens.
  "publish-artifacts": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    timeoutSeconds: 120,
  },
  // marks the server failed and fails its dependents' wait tokens.
  "mark-server-failed": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    readsSecrets: true,
    timeoutSeconds: 120,
  },
  "check-servers": {
    ...NO_ACCESS,
    table: ["GetItem", "Query"],
    timeoutSeconds: 120,
  },
  "run-hook": {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    readsSecrets: true,
    actsThroughProviders: true,
    timeoutSeconds: 900,
  },
  // stores the stack artifacts, lists the servers for the Stack Provisioned event, unlocks.
  // sets the ttl and auto_stop schedules of a provisioned stack, deletes a destroyed one's.
  finalize: {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    publishesEvents: true,
    setsSchedules: true,
    timeoutSeconds: 120,
  },
  // rollback lists the run's servers and destroys them (provision gives it 900 s); Stack Failed.
  // ... and a failed stack's ttl schedule.
  "on-failure": {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    publishesEvents: true,
    actsThroughProviders: true,
    setsSchedules: true,
    timeoutSeconds: 900,
  },
  // RunFailed: arms or consumes the redrive marker on the stack; on a redrive, Prepare again.
  resume: PREPARE_ACCESS,
  // destroy (src/pipeline/destroy.ts): parks the token until the server's dependents are gone.
  "wait-for-dependents": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    timeoutSeconds: 60,
  },
  // destroys the server, then releases the waits of the servers it depends on.
  "destroy-server": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    actsThroughProviders: true,
    timeoutSeconds: 600,
  },
  // records why a server is still there, and fails the waits of the servers it depends on.
  "mark-destroy-failed": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    timeoutSeconds: 120,
  },
  "check-destroyed": {
    ...NO_ACCESS,
    table: ["GetItem", "Query"],
    timeoutSeconds: 120,
  },
  // provision, after RemoveServers: deletes the records of the removed servers destroyed.
  "check-removed": {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "DeleteItem"],
    timeoutSeconds: 120,
  },
  // power (src/pipeline/power.ts): lock, list and prepare the servers; an auto_stop records Stack
  // Expired, or moves its schedule on when the stack is busy.
  "prepare-power": { ...PREPARE_ACCESS, publishesEvents: true, setsSchedules: true },
  // the provider stops or starts the server and waits for it (aws: up to 480 s); records the result.
  "stop-server": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    actsThroughProviders: true,
    timeoutSeconds: 600,
  },
  "start-server": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    actsThroughProviders: true,
    timeoutSeconds: 600,
  },
  // renders on_start with the member's secrets and runs it through the provider (provision too).
  "run-on-start": {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    readsSecrets: true,
    actsThroughProviders: true,
    timeoutSeconds: 900,
  },
  // records why, masked, and fails its dependents' on_start waits.
  "mark-power-failed": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    sendsTaskTokens: true,
    readsSecrets: true,
    timeoutSeconds: 120,
  },
  // lists the servers, sets the stack STOPPED or SUCCEEDED and its auto_stop schedule, Stack
  // Stopped / Started, unlocks.
  "finish-power": {
    ...NO_ACCESS,
    table: ["GetItem", "Query", "PutItem", "UpdateItem"],
    publishesEvents: true,
    setsSchedules: true,
    timeoutSeconds: 120,
  },
  "on-power-failure": {
    ...NO_ACCESS,
    table: ["GetItem", "PutItem", "UpdateItem"],
    publishesEvents: true,
    timeoutSeconds: 120,
  },
};

/**
 * Handlers under lambdas/ that are not state machine tasks: the HTTP API and the EventBridge
 * consumer. They are deployed with the HTTP API and the event rules, not here.
 */
export const NON_TASK_HANDLERS: ReadonlySet<string> = new Set(["api", "signup", "rollout"]);

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
  /** It signs readiness callback URLs (CALLBACK_BASE_URL and CALLBACK_SECRET_ARN). */
  readonly signsCallbacks: boolean;
}

export interface TaskFunctionsProps {
  /** The repository root (holds lambdas/ and package-lock.json). */
  readonly projectRoot: string;
  readonly table: Table;
  /** Where Stack Provisioned / Stack Failed go; every task builds its publisher at cold start. */
  readonly eventBus: EventBus;
  /** The secret readiness callbacks are signed with (CALLBACK_SECRET_ARN). */
  readonly callbackSecret: Pick<ISecret, "secretArn">;
  readonly logLevel: FunctionLogLevel;
  /** The providers deployed (default: the registry's); their declarations decide the provider grants. */
  readonly providers?: readonly ProviderDeclaration[];
  /** Where the functions that set stacks' expiry put their schedules. */
  readonly schedules: ExpirySchedules;
}

/**
 * One Lambda per task folder under lambdas/ (a handler.ts, not in NON_TASK_HANDLERS), a
 * TeamstackFunction each (minified ESM for Node 24 on arm64, the AWS SDK from the runtime), with
 * TABLE_NAME and EVENT_BUS_NAME set and only the table actions it calls granted (and PutEvents to
 * those that publish).
 * @throws Error when a folder has no entry in TASK_ACCESS (or an entry has no folder).
 */
export class TaskFunctions extends Construct {
  readonly functions: readonly TaskFunction[];

  constructor(scope: Construct, id: string, props: TaskFunctionsProps) {
    super(scope, id);
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

    const needs = providerNeeds(props.providers);
    this.functions = folders.map((folder) => {
      const access = TASK_ACCESS[folder] as TaskAccess;
      const name = pascalCase(folder);
      const { fn, entry } = new TeamstackFunction(this, name, {
        projectRoot: props.projectRoot,
        folder,
        description: `teamstack ${name} task (lambdas/${folder}/handler.ts)`,
        timeout: Duration.seconds(access.timeoutSeconds),
        environment: { TABLE_NAME: props.table.tableName, EVENT_BUS_NAME: props.eventBus.eventBusName },
        logLevel: props.logLevel,
      });
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: access.table.map((action) => `dynamodb:${action}`),
          resources: [props.table.tableArn],
        }),
      );
      if (access.publishesEvents) props.eventBus.grantPutEventsTo(fn);
      if (access.setsSchedules) {
        for (const [k, v] of Object.entries(props.schedules.environment)) fn.addEnvironment(k, v);
        props.schedules.grantManage(fn);
      }
      const actsThrough = access.actsThroughProviders;
      if (access.readsSecrets || (actsThrough && needs.readsCredentialSecrets)) grantReadSecrets(fn);
      if (actsThrough) for (const grant of needs.grants) grantProviderStatement(fn, grant);
      const signsCallbacks = signsReadinessCallbacks(access, needs);
      if (signsCallbacks) {
        fn.addEnvironment("CALLBACK_SECRET_ARN", props.callbackSecret.secretArn);
        fn.addToRolePolicy(
          new PolicyStatement({
            actions: ["secretsmanager:GetSecretValue"],
            resources: [props.callbackSecret.secretArn],
          }),
        );
      }
      return { folder, name, entry, access, fn, signsCallbacks };
    });
  }

  /** Tells the functions that sign readiness callbacks where the HTTP API answers them. */
  setCallbackBaseUrl(url: string): void {
    for (const f of this.functions) {
      if (f.signsCallbacks) f.fn.addEnvironment("CALLBACK_BASE_URL", url);
    }
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
