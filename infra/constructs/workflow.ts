import { readFileSync } from "node:fs";
import { ArnFormat, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from "aws-cdk-lib/aws-stepfunctions";
import { Construct, type IConstruct } from "constructs";
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
    // The ASL calls each function by its unqualified ARN, so no version or alias (`:*`) is granted.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ["lambda:InvokeFunction"],
        resources: [...new Set(used.map((u) => u.task))].map((t) => t.fn.functionArn),
      }),
    );
    Validations.of(this.stateMachine.role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "Only the actions that accept no resource: CloudWatch Logs log delivery (logs:CreateLogDelivery, GetLogDelivery, ..., DescribeLogGroups) for the machine's logging, and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) for its tracing, as the CDK adds them.",
    });

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
      const child =
        "A Distributed Map's child executions are named by Step Functions (`<machine>/<map run label>:<id>`), so only a pattern below this one machine can name them";
      acknowledgeWildcard(
        this.stateMachine.role,
        this.executionArnPattern(":*"),
        `${child}: describe and stop.`,
      );
      acknowledgeWildcard(
        this.stateMachine.role,
        this.executionArnPattern("/*"),
        `${child}: describe and stop.`,
      );
      acknowledgeWildcard(this.stateMachine.role, this.executionArnPattern("/*:*"), `${child}: redrive.`);
    }
  }

  /** Whether the definition has callback tasks (`.waitForTaskToken`). */
  get usesTaskTokens(): boolean {
    return this.definitionText.includes(".waitForTaskToken");
  }

  /** Whether a Task of the definition invokes the task function `name` (`${<name>FunctionArn}`). */
  invokes(name: string): boolean {
    return this.definitionText.includes(`\${${name}FunctionArn}`);
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
    acknowledgeWildcard(
      grantee,
      this.arnPattern("stateMachine", "/*"),
      "A task token of a Distributed Map child execution belongs to `<machine>/<map run label>`, a label Step Functions generates: only a pattern below this one machine names it.",
    );
  }

  /** Lets a function read this machine's (top-level) executions: whether a lock holder still runs. */
  grantDescribeExecutionsByName(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["states:DescribeExecution"], resources: [this.executionArn(":*")] }),
    );
    acknowledgeWildcard(
      grantee,
      this.executionArnPattern(":*"),
      "Executions are named per stack and run when they start (the lock names the holder's ARN), so only a pattern below this one machine names them; DescribeExecution only reads their status.",
    );
  }

  /** An ARN of this machine as cdk-nag writes it in a finding (`<AWS::Region>` for `${AWS::Region}`). */
  private arnPattern(resource: "stateMachine" | "execution", suffix: string): string {
    return `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:${resource}:${this.stateMachineName}${suffix}`;
  }

  private executionArnPattern(suffix: string): string {
    return this.arnPattern("execution", suffix);
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

/** Acknowledges cdk-nag's AwsSolutions-IAM5 finding for one wildcard resource on a grantee's policy. */
function acknowledgeWildcard(grantee: IGrantable, resource: string, reason: string): void {
  const principal = grantee.grantPrincipal as unknown as IConstruct;
  Validations.of(principal).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
}
