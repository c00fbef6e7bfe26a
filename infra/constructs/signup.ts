import { Duration, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type EventBus, Rule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { grantServiceAccess, type ServiceAccess } from "./http-api.ts";
import { type FunctionLogLevel, TeamstackFunction } from "./lambda-function.ts";
import type { Workflow } from "./workflow.ts";

/** The events lambdas/signup consumes, on teamstack's bus. */
export const SIGNUP_EVENT_PATTERN = {
  source: ["teamstack.teams"],
  "detail-type": ["Team Member Signed Up", "Team Member Left"],
} as const;

/** The events teamstack publishes on its bus, for consumers' rules (no rule of ours consumes them). */
export const STACK_EVENTS_PATTERN = {
  source: ["teamstack.stacks"],
  "detail-type": ["Stack Provisioned", "Stack Failed", "Stack Destroyed"],
} as const;

/**
 * What lambdas/signup calls: StackService.signup (the team's default template, the member's data,
 * the stack made for the event id) and a provision execution; StackService.memberLeft (the team
 * policy, the member marked left, the member's stacks and their events, a destroy execution each,
 * a MemberLeft stack event). Checked against the running code by test/infra/service-access.test.ts.
 */
export const SIGNUP_ACCESS: ServiceAccess = {
  // The default template, the member, the stack (a conditional put: the event id makes its key);
  // a team's stacks (the index's keys, then the items), a stack's events, appending one.
  table: ["GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"],
  queriesStacksIndex: true,
  starts: ["provision", "destroy", "power"],
  // Whether a stack's lock holder still runs (being destroyed, or busy).
  describesExecutions: true,
  settlesReadiness: false,
  describesSecrets: true,
  setsSchedules: false,
};

/** EventBridge's retries of a delivery it could not make (throttled, function unavailable). */
export const SIGNUP_DELIVERY = { retryAttempts: 8, maxEventAge: Duration.hours(6) } as const;
/** Lambda's retries of an invocation that failed (the handler threw). */
export const SIGNUP_INVOKE_RETRIES = 2;

export interface SignupConsumerProps {
  readonly projectRoot: string;
  readonly table: Table;
  /** teamstack's bus: producers put `Team Member Signed Up` here. */
  readonly eventBus: EventBus;
  readonly provision: Workflow;
  readonly destroy: Workflow;
  /** Team Member Left with on_member_left `stop` starts it. */
  readonly power: Workflow;
  readonly logLevel: FunctionLogLevel;
}

/**
 * `Team Member Signed Up` in: a rule on teamstack's bus invokes lambdas/signup, which provisions
 * the team's default template for the member. An event that cannot be delivered (after EventBridge's
 * retries) or whose handling fails (after Lambda's, e.g. InvalidEventError or a team without a
 * default template) lands in one encrypted dead-letter queue, kept 14 days.
 */
export class SignupConsumer extends Construct {
  readonly handler: TeamstackFunction;
  readonly rule: Rule;
  readonly deadLetters: Queue;

  constructor(scope: Construct, id: string, props: SignupConsumerProps) {
    super(scope, id);
    this.deadLetters = new Queue(this, "DeadLetters", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetters).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is the dead-letter queue itself (of the signup rule's target and of the signup function's asynchronous invocations); cdk-nag only recognises queues named in another queue's RedrivePolicy.",
    });

    this.handler = new TeamstackFunction(this, "Handler", {
      projectRoot: props.projectRoot,
      folder: "signup",
      description: "teamstack Team Member Signed Up consumer (lambdas/signup/handler.ts)",
      timeout: Duration.seconds(30),
      environment: {
        TABLE_NAME: props.table.tableName,
        PROVISION_STATE_MACHINE_ARN: props.provision.stateMachine.stateMachineArn,
        // Team Member Left starts destroys, or stops (on_member_left: stop).
        DESTROY_STATE_MACHINE_ARN: props.destroy.stateMachine.stateMachineArn,
        POWER_STATE_MACHINE_ARN: props.power.stateMachine.stateMachineArn,
      },
      logLevel: props.logLevel,
      onFailure: new SqsDestination(this.deadLetters),
      retryAttempts: SIGNUP_INVOKE_RETRIES,
    });
    grantServiceAccess(this.handler, SIGNUP_ACCESS, props);

    this.rule = new Rule(this, "Rule", {
      eventBus: props.eventBus,
      description: "Team Member Signed Up, Team Member Left → lambdas/signup",
      eventPattern: {
        source: [...SIGNUP_EVENT_PATTERN.source],
        detailType: [...SIGNUP_EVENT_PATTERN["detail-type"]],
      },
      targets: [
        new LambdaFunction(this.handler.fn, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: SIGNUP_DELIVERY.retryAttempts,
          maxEventAge: SIGNUP_DELIVERY.maxEventAge,
        }),
      ],
    });
  }
}
