import { readFileSync } from "node:fs";
import { ArnFormat, RemovalPolicy, Stack } from "aws-cdk-lib";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";
import type { TaskFunctions } from "./task-functions.ts";

/** `${Name}` placeholders in an ASL text, in order of first appearance. */
export function aslPlaceholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] as string))];
}

type AslState = { readonly [key: string]: unknown };

/** Whether a state graph (or one nested in it) holds a Map state in DISTRIBUTED mode. */
export function hasDistributedMap(graph: { readonly States?: Record<string, AslState> }): boolean {
  return Object.values(graph.States ?? {}).some((state) => {
    const processor = (state.ItemProcessor ?? state.Iterator) as
      | { ProcessorConfig?: { Mode?: string }; States?: Record<string, AslState> }
      | undefined;
    if (processor?.ProcessorConfig?.Mode === "DISTRIBUTED") return true;
    if (processor && hasDistributedMap(processor)) return true;
    const branches = (state.Branches ?? []) as { States?: Record<string, AslState> }[];
    return branches.some(hasDistributedMap);
  });
}

export interface WorkflowProps {
  /** The ASL file: deployed as is, its `${XFunctionArn}` placeholders substituted by CloudFormation. */
  readonly definitionFile: string;
  /**
   * The state machine's name. Fixed, so that grants can name its ARN without referring to the
   * resource: the machine depends on its task functions and its own role, so a reference back
   * from either would be a dependency cycle.
   */
  readonly stateMachineName: string;
  readonly tasks: TaskFunctions;
}

/**
 * A Standard state machine from one of the statemachines/ ASL files, logging every event without
 * execution data (inputs and outputs stay out of the logs) and traced with X-Ray. It may invoke the
 * task functions its definition names; a Distributed Map may start, describe, stop and redrive the
 * machine's own child executions.
 * @throws Error when the ASL names a placeholder no task function answers.
 */
export class Workflow extends Construct {
  readonly stateMachine: StateMachine;
  readonly stateMachineName: string;
  /** The definition as read from the file. */
  readonly definitionText: string;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    this.stateMachineName = props.stateMachineName;
    this.definitionText = readFileSync(props.definitionFile, "utf8");
    const used = aslPlaceholders(this.definitionText).map((p) => ({
      placeholder: p,
      task: props.tasks.forPlaceholder(p),
    }));

    // The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy from growing per machine.
    this.logGroup = new LogGroup(this, "Logs", {
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new StateMachine(this, "StateMachine", {
      stateMachineName: props.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromString(this.definitionText),
      definitionSubstitutions: Object.fromEntries(used.map((u) => [u.placeholder, u.task.fn.functionArn])),
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // A definition given as text is opaque to the CDK: it grants nothing for its tasks by itself.
    for (const task of new Set(used.map((u) => u.task))) task.fn.grantInvoke(this.stateMachine);

    if (hasDistributedMap(JSON.parse(this.definitionText))) {
      // Step Functions' "IAM policies for using Distributed Map states": the parent starts child
      // executions of this same machine, describes and stops them, and redrives them when the
      // parent is redriven. Child executions are named `<machine>/<map run label>:<id>`.
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({ actions: ["states:StartExecution"], resources: [this.stateMachineArn()] }),
      );
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({
          actions: ["states:DescribeExecution", "states:StopExecution"],
          resources: [this.executionArn(":*"), this.executionArn("/*")],
        }),
      );
      this.stateMachine.addToRolePolicy(
        new PolicyStatement({ actions: ["states:RedriveExecution"], resources: [this.executionArn("/*:*")] }),
      );
    }
  }

  /** Whether the definition has callback tasks (`.waitForTaskToken`). */
  get usesTaskTokens(): boolean {
    return this.definitionText.includes(".waitForTaskToken");
  }

  /**
   * Lets a function settle this machine's callback tasks (SendTaskSuccess, SendTaskFailure), by
   * ARN built from the name: the same grant through the resource would be a dependency cycle. The
   * token's execution may be a Distributed Map child, which Step Functions attributes to
   * `<machine>/<map run label>`, hence both ARNs.
   */
  grantTaskResponseByName(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["states:SendTaskSuccess", "states:SendTaskFailure"],
        resources: [this.stateMachineArn(), this.stateMachineArn("/*")],
      }),
    );
  }

  /** Lets a function read this machine's (top-level) executions: whether a lock holder still runs. */
  grantDescribeExecutionsByName(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["states:DescribeExecution"], resources: [this.executionArn(":*")] }),
    );
  }

  private stateMachineArn(suffix = ""): string {
    return Stack.of(this).formatArn({
      service: "states",
      resource: "stateMachine",
      resourceName: `${this.stateMachineName}${suffix}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  private executionArn(suffix: string): string {
    return Stack.of(this).formatArn({
      service: "states",
      resource: "execution",
      resourceName: `${this.stateMachineName}${suffix}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }
}
