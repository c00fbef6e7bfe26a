import { Duration, Validations } from "aws-cdk-lib";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type EventBus, Rule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { grantServiceAccess, type ServiceAccess } from "./http-api.ts";
import { type FunctionLogLevel, TeamstackFunction } from "./lambda-function.ts";
import { STACK_EVENTS_PATTERN } from "./signup.ts";
import type { Workflow } from "./workflow.ts";

/**
 * What lambdas/rollout calls: RolloutService.onStackRunEnded (the template's running rollout, the
 * stack's entry, conditional moves, the rollout's stacks by a query on the table, the claim
 * released by a conditional delete) and, for the next wave, StackService.update (the stack, its
 * lock's execution, a provision execution). Checked against the running code by
 * test/infra/service-access.test.ts.
 */
export const ROLLOUT_ACCESS: ServiceAccess = {
  table: ["GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"],
  queriesStacksIndex: false,
  starts: ["provision"],
  describesExecutions: true,
  settlesReadiness: false,
  describesSecrets: true,
  setsSchedules: false,
};

/** EventBridge's retries of a delivery it could not make, and Lambda's of a failed invocation. */
export const ROLLOUT_DELIVERY = { retryAttempts: 8, maxEventAge: Duration.hours(6) } as const;
export const ROLLOUT_INVOKE_RETRIES = 2;

export interface RolloutAdvancerProps {
  readonly projectRoot: string;
  readonly table: Table;
  /** teamstack's bus: the provision machine's Finalize and OnFailure put their events here. */
  readonly eventBus: EventBus;
  readonly provision: Workflow;
  readonly destroy: Workflow;
  /** Its lock holder may be a stop or start: whether that still runs. */
  readonly power: Workflow;
  readonly logLevel: FunctionLogLevel;
}

/**
 * Rollouts advance on teamstack's own `Stack Provisioned` / `Stack Failed` events: a rule on its bus
 * invokes lambdas/rollout, which records how the stack's update ended in the rollout updating it
 * (if any) and starts the next wave, or ends the rollout and sends `Rollout Finished` on the same
 * bus. Failed deliveries and invocations land in an encrypted dead-letter queue, kept 14 days.
 */
export class RolloutAdvancer extends Construct {
  readonly handler: TeamstackFunction;
  readonly rule: Rule;
  readonly deadLetters: Queue;

  constructor(scope: Construct, id: string, props: RolloutAdvancerProps) {
    super(scope, id);
    this.deadLetters = new Queue(this, "DeadLetters", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetters).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is the dead-letter queue itself (of the rollout rule's target and of the rollout function's asynchronous invocations); cdk-nag only recognises queues named in another queue's RedrivePolicy.",
    });
    this.handler = new TeamstackFunction(this, "Handler", {
      projectRoot: props.projectRoot,
      folder: "rollout",
      description:
        "teamstack rollout advancer on Stack Provisioned / Stack Failed (lambdas/rollout/handler.ts)",
      timeout: Duration.seconds(60),
      environment: {
        TABLE_NAME: props.table.tableName,
        PROVISION_STATE_MACHINE_ARN: props.provision.stateMachine.stateMachineArn,
        // lambdas/shared/service.ts builds the whole StackService; rollouts never start a destroy.
        DESTROY_STATE_MACHINE_ARN: props.destroy.stateMachine.stateMachineArn,
        EVENT_BUS_NAME: props.eventBus.eventBusName,
      },
      logLevel: props.logLevel,
      onFailure: new SqsDestination(this.deadLetters),
      retryAttempts: ROLLOUT_INVOKE_RETRIES,
    });
    grantServiceAccess(this.handler, ROLLOUT_ACCESS, props);
    // `Rollout Finished`.
    props.eventBus.grantPutEventsTo(this.handler.fn);

    this.rule = new Rule(this, "Rule", {
      eventBus: props.eventBus,
      description: "Stack Provisioned / Stack Failed → lambdas/rollout",
      eventPattern: {
        source: [...STACK_EVENTS_PATTERN.source],
        detailType: [...STACK_EVENTS_PATTERN["detail-type"]],
      },
      targets: [
        new LambdaFunction(this.handler.fn, {
          deadLetterQueue: this.deadLetters,
          retryAttempts: ROLLOUT_DELIVERY.retryAttempts,
          maxEventAge: ROLLOUT_DELIVERY.maxEventAge,
        }),
      ],
    });
  }
}
