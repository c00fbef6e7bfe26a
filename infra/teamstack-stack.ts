import { join } from "node:path";
import { Annotations, CfnOutput, Stack, type StackProps, Validations } from "aws-cdk-lib";
import { EventBus } from "aws-cdk-lib/aws-events";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import type { ConsoleBuild } from "../web/build.ts";
import { CONTEXT_KEYS, type DeployConfig, readDeployConfig } from "./config.ts";
import { ConsoleSite } from "./constructs/console-site.ts";
import { ExpirySchedules } from "./constructs/expiry-schedules.ts";
import { TeamstackApi } from "./constructs/http-api.ts";
import { RolloutAdvancer } from "./constructs/rollout.ts";
import { SignupConsumer } from "./constructs/signup.ts";
import { StoreTable } from "./constructs/store-table.ts";
import { TaskFunctions } from "./constructs/task-functions.ts";
import { Workflow } from "./constructs/workflow.ts";

/** The repository root: lambdas/, statemachines/ and package-lock.json live there. */
export const PROJECT_ROOT = join(import.meta.dirname, "..");

export interface TeamstackStackProps extends StackProps {
  /** Where lambdas/ and statemachines/ are read from (default: this repository). */
  readonly projectRoot?: string;
  /** The web console's files (web/build.ts): deployed behind CloudFront when given. */
  readonly console?: ConsoleBuild;
}

/**
 * teamstack in one AWS account and region: the store's table, the event bus with the signup rule,
 * one Lambda per state machine task, the provision and destroy state machines running the very
 * ASL files the local runtime runs, and the HTTP API.
 */
export class TeamstackStack extends Stack {
  readonly config: DeployConfig;
  readonly store: StoreTable;
  readonly eventBus: EventBus;
  readonly callbackSecret: Secret;
  readonly tasks: TaskFunctions;
  readonly provision: Workflow;
  readonly destroy: Workflow;
  readonly power: Workflow;
  readonly schedules: ExpirySchedules;
  readonly api: TeamstackApi;
  readonly signup: SignupConsumer;
  readonly rollouts: RolloutAdvancer;
  /** The web console's static site, when the stack was given its build. */
  readonly console: ConsoleSite | undefined;

  constructor(scope: Construct, id: string, props: TeamstackStackProps = {}) {
    super(scope, id, props);
    const root = props.projectRoot ?? PROJECT_ROOT;
    this.config = readDeployConfig(this.node);
    if (this.config.placeholders.length > 0) {
      Annotations.of(this).addWarningV2(
        "teamstack:jwtPlaceholder",
        `${this.config.placeholders.join(" and ")} not set: the HTTP API is built with a placeholder that accepts no token. ` +
          `Deploy with -c ${CONTEXT_KEYS.jwtIssuer}=https://YOUR-ISSUER -c ${CONTEXT_KEYS.jwtAudience}=YOUR-AUDIENCE (README, "Deploy").`,
      );
    }

    this.store = new StoreTable(this, "Store");
    // teamstack's own bus, both ways: Team Member Signed Up in, Stack Provisioned / Stack Failed out.
    this.eventBus = new EventBus(this, "Events");
    // Signs each aws server's one-time readiness callback URL (CreateServer) and verifies it (the API).
    this.callbackSecret = new Secret(this, "CallbackSecret", {
      description: "teamstack: HMAC key of the readiness callbacks of aws servers",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.callbackSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "The HMAC key of readiness callbacks signs URLs already baked into the user_data of servers that are still booting: a scheduled rotation would fail their callbacks. Rotate by hand between provisioning runs (put-secret-value; functions read it again on a cold start).",
    });
    // Stacks' ttl and auto_stop: one-time schedules that start the destroy or power machine.
    this.schedules = new ExpirySchedules(this, "Expiry", {
      destroyStateMachineName: `${this.stackName}-Destroy`,
      powerStateMachineName: `${this.stackName}-Power`,
    });
    this.tasks = new TaskFunctions(this, "Tasks", {
      schedules: this.schedules,
      projectRoot: root,
      table: this.store.table,
      eventBus: this.eventBus,
      callbackSecret: this.callbackSecret,
      logLevel: this.config.logLevel,
    });
    this.provision = new Workflow(this, "Provision", {
      definitionFile: join(root, "statemachines", "provision.asl.json"),
      stateMachineName: `${this.stackName}-Provision`,
      tasks: this.tasks,
    });
    this.destroy = new Workflow(this, "Destroy", {
      definitionFile: join(root, "statemachines", "destroy.asl.json"),
      stateMachineName: `${this.stackName}-Destroy`,
      tasks: this.tasks,
    });

    this.power = new Workflow(this, "Power", {
      definitionFile: join(root, "statemachines", "power.asl.json"),
      stateMachineName: `${this.stackName}-Power`,
      tasks: this.tasks,
    });

    const workflows = [this.provision, this.destroy, this.power];
    for (const task of this.tasks.functions) {
      // A task settles the callback tasks of the machines that run it.
      if (task.access.sendsTaskTokens) {
        for (const w of workflows)
          if (w.usesTaskTokens && w.invokes(task.name)) w.grantTaskResponseByName(task.fn);
      }
      // Prepare of either machine may find the lock held by an execution of either.
      if (task.access.describesExecutions) {
        for (const w of workflows) w.grantDescribeExecutionsByName(task.fn);
      }
    }

    this.api = new TeamstackApi(this, "Api", {
      projectRoot: root,
      table: this.store.table,
      provision: this.provision,
      destroy: this.destroy,
      power: this.power,
      schedules: this.schedules,
      jwtIssuer: this.config.jwtIssuer,
      jwtAudience: this.config.jwtAudience,
      logLevel: this.config.logLevel,
      callbackSecret: this.callbackSecret,
      eventBus: this.eventBus,
    });
    this.tasks.setCallbackBaseUrl(this.api.url);
    this.signup = new SignupConsumer(this, "Signup", {
      projectRoot: root,
      table: this.store.table,
      eventBus: this.eventBus,
      provision: this.provision,
      destroy: this.destroy,
      power: this.power,
      logLevel: this.config.logLevel,
    });

    this.rollouts = new RolloutAdvancer(this, "Rollouts", {
      projectRoot: root,
      table: this.store.table,
      eventBus: this.eventBus,
      provision: this.provision,
      destroy: this.destroy,
      power: this.power,
      logLevel: this.config.logLevel,
    });

    if (props.console) {
      // Without a configured issuer the console signs in with a pasted token only.
      const oidc = this.config.placeholders.includes(CONTEXT_KEYS.jwtIssuer)
        ? null
        : { issuer: this.config.jwtIssuer, ...this.config.console };
      this.console = new ConsoleSite(this, "Console", { build: props.console, apiUrl: this.api.url, oidc });
      this.api.allowConsole(this.console.origin);
      new CfnOutput(this, "ConsoleUrl", { value: this.console.origin });
    } else this.console = undefined;

    new CfnOutput(this, "ApiUrl", { value: this.api.url });
    new CfnOutput(this, "TableName", { value: this.store.table.tableName });
    new CfnOutput(this, "EventBusName", { value: this.eventBus.eventBusName });
    new CfnOutput(this, "SignupDeadLetterQueueUrl", { value: this.signup.deadLetters.queueUrl });
    new CfnOutput(this, "RolloutDeadLetterQueueUrl", { value: this.rollouts.deadLetters.queueUrl });
    new CfnOutput(this, "ProvisionStateMachineArn", { value: this.provision.stateMachine.stateMachineArn });
    new CfnOutput(this, "DestroyStateMachineArn", { value: this.destroy.stateMachine.stateMachineArn });
    new CfnOutput(this, "PowerStateMachineArn", { value: this.power.stateMachine.stateMachineArn });
    new CfnOutput(this, "ExpiryScheduleGroup", { value: this.schedules.groupName });
  }
}
