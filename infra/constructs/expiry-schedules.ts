import { ArnFormat, Stack, Validations } from "aws-cdk-lib";
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { CfnScheduleGroup } from "aws-cdk-lib/aws-scheduler";
import { Construct, type IConstruct } from "constructs";

export interface ExpirySchedulesProps {
  /** The state machines a ttl (destroy) and an auto_stop (power) start, by name (see Workflow). */
  readonly destroyStateMachineName: string;
  readonly powerStateMachineName: string;
}

/**
 * Where stacks' ttl and auto_stop schedules live: one EventBridge Scheduler schedule group, and the
 * role the scheduler assumes to start the destroy or power machine when one fires. The tasks that
 * set a stack's expiry (src/pipeline/expiry.ts) create, move and delete one-time schedules in the
 * group ({@link grantManage}). Machine ARNs are built from their fixed names: a reference to the
 * resources would make the task functions (which the machines name) depend on the machines.
 */
export class ExpirySchedules extends Construct {
  readonly group: CfnScheduleGroup;
  readonly groupName: string;
  readonly role: Role;
  readonly destroyStateMachineArn: string;
  readonly powerStateMachineArn: string;

  constructor(scope: Construct, id: string, props: ExpirySchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.groupName = `${stack.stackName}-expiry`;
    this.group = new CfnScheduleGroup(this, "Group", { name: this.groupName });
    const machineArn = (name: string) =>
      stack.formatArn({
        service: "states",
        resource: "stateMachine",
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    this.destroyStateMachineArn = machineArn(props.destroyStateMachineName);
    this.powerStateMachineArn = machineArn(props.powerStateMachineName);
    this.role = new Role(this, "SchedulerRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": stack.account } },
      }),
      description: "teamstack: EventBridge Scheduler starts a stack's destroy (ttl) or stop (auto_stop)",
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ["states:StartExecution"],
        resources: [this.destroyStateMachineArn, this.powerStateMachineArn],
      }),
    );
  }

  /** The ARN pattern of the group's schedules (one per stack and action, named by the tasks). */
  get scheduleArns(): string {
    return Stack.of(this).formatArn({
      service: "scheduler",
      resource: "schedule",
      resourceName: `${this.groupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** The environment a function that sets schedules reads (lambdas/shared/schedules.ts). */
  get environment(): Record<string, string> {
    return {
      SCHEDULE_GROUP_NAME: this.groupName,
      SCHEDULER_ROLE_ARN: this.role.roleArn,
      DESTROY_STATE_MACHINE_ARN: this.destroyStateMachineArn,
      POWER_STATE_MACHINE_ARN: this.powerStateMachineArn,
    };
  }

  /** Lets a function create, move and delete the group's schedules, and hand them the scheduler's role. */
  grantManage(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
        resources: [this.scheduleArns],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["iam:PassRole"],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      }),
    );
    Validations.of(grantee.grantPrincipal as unknown as IConstruct).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.groupName}/*]`,
      reason:
        "One schedule per stack and action, named when a stack's expiry is set: only a pattern below teamstack's own schedule group names them.",
    });
  }
}
