import { join } from "node:path";
import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import { EventBus } from "aws-cdk-lib/aws-events";
import type { Construct } from "constructs";
import { StoreTable } from "./constructs/store-table.ts";
import { TaskFunctions } from "./constructs/task-functions.ts";
import { Workflow } from "./constructs/workflow.ts";

/** The repository root: lambdas/, statemachines/ and package-lock.json live there. */
export const PROJECT_ROOT = join(import.meta.dirname, "..");

export interface TeamstackStackProps extends StackProps {
  /** Where lambdas/ and statemachines/ are read from (default: this repository). */
  readonly projectRoot?: string;
}

/**
 * teamstack in one AWS account and region: the store's table, the event bus, one Lambda per state
 * machine task, and the provision and destroy state machines running the very ASL files the local
 * runtime runs.
 */
export class TeamstackStack extends Stack {
  readonly store: StoreTable;
  readonly eventBus: EventBus;
  readonly tasks: TaskFunctions;
  readonly provision: Workflow;
  readonly destroy: Workflow;

  constructor(scope: Construct, id: string, props: TeamstackStackProps = {}) {
    super(scope, id, props);
    const root = props.projectRoot ?? PROJECT_ROOT;

    this.store = new StoreTable(this, "Store");
    // teamstack's own bus: the tasks publish Stack Provisioned / Stack Failed on it. Rules and the
    // Team Member Signed Up consumer arrive with the events issue.
    this.eventBus = new EventBus(this, "Events");
    this.tasks = new TaskFunctions(this, "Tasks", {
      projectRoot: root,
      table: this.store.table,
      eventBus: this.eventBus,
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

    const workflows = [this.provision, this.destroy];
    for (const task of this.tasks.functions) {
      if (task.access.sendsTaskTokens) {
        for (const w of workflows) if (w.usesTaskTokens) w.grantTaskResponseByName(task.fn);
      }
      // Prepare of either machine may find the lock held by an execution of either.
      if (task.access.describesExecutions) {
        for (const w of workflows) w.grantDescribeExecutionsByName(task.fn);
      }
    }

    new CfnOutput(this, "TableName", { value: this.store.table.tableName });
    new CfnOutput(this, "EventBusName", { value: this.eventBus.eventBusName });
    new CfnOutput(this, "ProvisionStateMachineArn", { value: this.provision.stateMachine.stateMachineArn });
    new CfnOutput(this, "DestroyStateMachineArn", { value: this.destroy.stateMachine.stateMachineArn });
  }
}
