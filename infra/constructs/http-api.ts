import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  type CfnApi,
  type CfnStage,
  HttpApi,
  HttpMethod,
  type HttpRoute,
  type HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpJwtAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import type { EventBus } from "aws-cdk-lib/aws-events";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct, type IConstruct } from "constructs";
import type { ExpirySchedules } from "./expiry-schedules.ts";
import {
  type FunctionLogLevel,
  grantDescribeSecrets,
  grantProviderStatement,
  grantReadSecrets,
  TeamstackFunction,
} from "./lambda-function.ts";
import { STACKS_INDEX_NAME } from "./store-table.ts";
import { providerNeeds, type TableAction } from "./task-functions.ts";
import type { Workflow } from "./workflow.ts";

/** What a function serving the StackService (the API, the signup consumer) calls. */
export interface ServiceAccess {
  /** DynamoDB actions on the table itself. */
  readonly table: readonly TableAction[];
  /** Lists a team's stacks through the `gsi1` index: dynamodb:Query on the index. */
  readonly queriesStacksIndex: boolean;
  /** State machines it starts executions of: states:StartExecution. */
  readonly starts: readonly ("provision" | "destroy" | "power")[];
  /** Asks whether a lock holder's execution still runs: states:DescribeExecution on both machines. */
  readonly describesExecutions: boolean;
  /**
   * Answers readiness callbacks: verifies them with the callback secret (CALLBACK_SECRET_ARN) and
   * settles the server's WaitUntilReady token (states:SendTaskSuccess/SendTaskFailure).
   */
  readonly settlesReadiness: boolean;
  /**
   * Checks that a member's secret is set (never reads it) before making a stack that uses it:
   * secretsmanager:DescribeSecret below `teamstack/`.
   */
  readonly describesSecrets: boolean;
  /**
   * Moves stacks' ttl and auto_stop schedules (`extend`): scheduler:Create/Update/DeleteSchedule in
   * teamstack's group, iam:PassRole to the scheduler's role.
   */
  readonly setsSchedules: boolean;
  /**
   * Runs commands on servers (`POST .../exec`) through their providers (aws: SSM Run Command in
   * the team's account): what the deployed providers ask of functions acting through them (the
   * aws provider's sts:AssumeRole on teams' roles). Default false.
   */
  readonly actsThroughProviders?: boolean;
}

/**
 * What lambdas/api calls: every route of src/api/routes.ts (served by src/api/router.ts) over the DynamoDB store and Step
 * Functions. Checked against the running code by test/infra/service-access.test.ts.
 */
export const API_ACCESS: ServiceAccess = {
  // BatchGetItem: a team's stack list reads the index's keys, then the stack items.
  // DeleteItem: a rollout that ends releases its template's claim (a conditional delete).
  table: ["GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"],
  queriesStacksIndex: true,
  starts: ["provision", "destroy", "power"],
  describesExecutions: true,
  settlesReadiness: true,
  describesSecrets: true,
  setsSchedules: true,
  actsThroughProviders: true,
};

/** Requests per second (steady, burst) for every route, unless narrowed below. */
export const DEFAULT_THROTTLE: Required<ThrottleSettings> = { rateLimit: 50, burstLimit: 100 };
/** GET /openapi.json answers anyone: a static document needs no more than this. */
export const OPENAPI_THROTTLE: Required<ThrottleSettings> = { rateLimit: 5, burstLimit: 10 };

/** The unauthenticated routes: the API description, and instances reporting readiness. */
export const OPENAPI_PATH = "/openapi.json";
/** A one-time, HMAC-signed URL per server (the handler verifies it); like cfn-signal's presigned URL. */
export const READY_CALLBACK_PATH = "/callbacks/ready/{proxy+}";

/**
 * Access log fields, one JSON object per request. The path is left out on purpose: a readiness
 * callback's path carries its signed one-time token; the route key and the caller's `sub` say
 * what was called and by whom.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  ip: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  routeKey: "$context.routeKey",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationStatus: "$context.integrationStatus",
  integrationLatency: "$context.integrationLatency",
  integrationError: "$context.integrationErrorMessage",
  authorizerError: "$context.authorizer.error",
  member: "$context.authorizer.claims.sub",
};

export interface TeamstackApiProps {
  readonly projectRoot: string;
  readonly table: Table;
  readonly provision: Workflow;
  readonly destroy: Workflow;
  /** The stop and start machine (`POST .../stop`, `.../start`). */
  readonly power: Workflow;
  /** Where `extend` moves stacks' expiry schedules. */
  readonly schedules: ExpirySchedules;
  /** The identity provider's issuer URL: API Gateway fetches its keys from the OIDC discovery document. */
  readonly jwtIssuer: string;
  readonly jwtAudience: readonly string[];
  readonly logLevel: FunctionLogLevel;
  /** The secret readiness callbacks are signed with (CALLBACK_SECRET_ARN). */
  readonly callbackSecret: Pick<ISecret, "secretArn">;
  readonly throttle?: ThrottleSettings;
  /** Where `Rollout Finished` goes when a rollout ends in a request (EVENT_BUS_NAME, events:PutEvents). */
  readonly eventBus?: EventBus;
}

/**
 * The HTTP API (API Gateway HTTP API, payload format 2.0) in front of lambdas/api: every route
 * behind a JWT authorizer (issuer and audience from the deployment's context) except
 * `GET /openapi.json` and the readiness callbacks; JSON access logs; stage-wide throttling.
 */
export class TeamstackApi extends Construct {
  readonly handler: TeamstackFunction;
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly authorizer: HttpJwtAuthorizer;
  readonly routes: {
    readonly authorized: readonly HttpRoute[];
    readonly openapi: readonly HttpRoute[];
    readonly readyCallback: readonly HttpRoute[];
  };

  readonly #integration: HttpLambdaIntegration;

  constructor(scope: Construct, id: string, props: TeamstackApiProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    this.handler = new TeamstackFunction(this, "Handler", {
      projectRoot: props.projectRoot,
      folder: "api",
      description: "teamstack HTTP API (lambdas/api/handler.ts)",
      timeout: Duration.seconds(29), // API Gateway's integration timeout
      environment: {
        TABLE_NAME: props.table.tableName,
        PROVISION_STATE_MACHINE_ARN: props.provision.stateMachine.stateMachineArn,
        DESTROY_STATE_MACHINE_ARN: props.destroy.stateMachine.stateMachineArn,
        POWER_STATE_MACHINE_ARN: props.power.stateMachine.stateMachineArn,
        CALLBACK_SECRET_ARN: props.callbackSecret.secretArn,
        ...(props.eventBus ? { EVENT_BUS_NAME: props.eventBus.eventBusName } : {}),
      },
      logLevel: props.logLevel,
    });
    grantServiceAccess(this.handler, API_ACCESS, props);
    props.eventBus?.grantPutEventsTo(this.handler.fn);

    this.httpApi = new HttpApi(this, "HttpApi", {
      apiName: `${stackName}-api`,
      description: "teamstack: templates, stacks and readiness callbacks",
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, "AccessLogs", {
      logGroupName: `/teamstack/${stackName}/api-access`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttle = { ...DEFAULT_THROTTLE, ...props.throttle };
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const integration = new HttpLambdaIntegration("Handler", this.handler.fn);
    this.#integration = integration;
    this.authorizer = new HttpJwtAuthorizer("Jwt", props.jwtIssuer, {
      authorizerName: "teamstack-jwt",
      jwtAudience: [...props.jwtAudience],
    });
    this.routes = {
      // Every route of src/api/routes.ts but /openapi.json; the handler answers 404/405 for the rest.
      authorized: this.httpApi.addRoutes({
        path: "/{proxy+}",
        methods: [HttpMethod.ANY],
        integration,
        authorizer: this.authorizer,
      }),
      openapi: this.httpApi.addRoutes({ path: OPENAPI_PATH, methods: [HttpMethod.GET], integration }),
      readyCallback: this.httpApi.addRoutes({
        path: READY_CALLBACK_PATH,
        methods: [HttpMethod.POST],
        integration,
      }),
    };
    for (const route of [...this.routes.openapi, ...this.routes.readyCallback]) {
      // On the route resource itself, not on the Lambda permission the construct also holds.
      Validations.of(route.node.defaultChild as IConstruct).acknowledge({
        id: "AwsSolutions-APIG4",
        reason:
          route === this.routes.openapi[0]
            ? "GET /openapi.json is the public description of the API (no data), as `teamstack serve` serves it; throttled to 5 requests per second."
            : "Readiness callbacks come from the team's new instances, which hold no token: each URL is one-time and HMAC-signed, and lambdas/api verifies it before anything changes.",
      });
    }

    // A tighter limit on the public document; route settings need their routes to exist first.
    // RouteSettings is untyped JSON in the CDK: CloudFormation's own property names.
    const cfnStage = this.stage.node.defaultChild as CfnStage;
    cfnStage.routeSettings = {
      [`GET ${OPENAPI_PATH}`]: {
        ThrottlingRateLimit: OPENAPI_THROTTLE.rateLimit,
        ThrottlingBurstLimit: OPENAPI_THROTTLE.burstLimit,
      },
    };
    for (const route of this.routes.openapi) this.stage.node.addDependency(route);
  }

  /**
   * Lets the web console at `origin` (https://HOST, no path) call the API from the browser: CORS
   * for that origin only (the bearer token, JSON bodies, If-None-Match in; ETag out), and an
   * `OPTIONS /{proxy+}` route without the authorizer, since a browser's preflight carries no token
   * and the `ANY` route would refuse it. The handler answers a preflight with 204.
   */
  allowConsole(origin: string): void {
    const cfnApi = this.httpApi.node.defaultChild as CfnApi;
    cfnApi.corsConfiguration = {
      allowOrigins: [origin],
      allowMethods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
      allowHeaders: ["authorization", "content-type", "if-none-match", "idempotency-key"],
      exposeHeaders: ["etag", "retry-after", "x-request-id"],
      maxAge: 600,
    };
    const [preflight] = this.httpApi.addRoutes({
      path: "/{proxy+}",
      methods: [HttpMethod.OPTIONS],
      integration: this.#integration,
    });
    Validations.of(preflight?.node.defaultChild as IConstruct).acknowledge({
      id: "AwsSolutions-APIG4",
      reason:
        "CORS preflights (OPTIONS) come from browsers without a token, by the CORS standard; the handler answers them with 204 and no data, and every other method stays behind the JWT authorizer.",
    });
  }

  /** The API's base URL (the `$default` stage, no trailing slash). */
  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}

/** Grants a StackService function exactly the table, index and Step Functions actions it calls. */
export function grantServiceAccess(
  target: TeamstackFunction,
  access: ServiceAccess,
  props: {
    readonly table: Table;
    readonly provision: Workflow;
    readonly destroy: Workflow;
    readonly power?: Workflow;
    readonly schedules?: ExpirySchedules;
    readonly callbackSecret?: Pick<ISecret, "secretArn">;
  },
): void {
  target.fn.addToRolePolicy(
    new PolicyStatement({
      actions: access.table.map((action) => `dynamodb:${action}`),
      resources: [props.table.tableArn],
    }),
  );
  if (access.actsThroughProviders) {
    const needs = providerNeeds();
    if (needs.readsCredentialSecrets) grantReadSecrets(target.fn);
    for (const grant of needs.grants) grantProviderStatement(target.fn, grant);
  }
  if (access.queriesStacksIndex) {
    target.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${props.table.tableArn}/index/${STACKS_INDEX_NAME}`],
      }),
    );
  }
  if (access.starts.length > 0) {
    target.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["states:StartExecution"],
        resources: access.starts.map((m) => {
          const machine = props[m];
          if (!machine) throw new Error(`starting the ${m} machine needs it`);
          return machine.stateMachine.stateMachineArn;
        }),
      }),
    );
  }
  if (access.describesExecutions) {
    for (const w of [props.provision, props.destroy, ...(props.power ? [props.power] : [])])
      w.grantDescribeExecutionsByName(target.fn);
  }
  if (access.setsSchedules) {
    if (!props.schedules) throw new Error("moving expiry schedules needs the schedule group");
    // The machines' ARNs it has already, by reference: only the group and the role are added.
    const { SCHEDULE_GROUP_NAME, SCHEDULER_ROLE_ARN } = props.schedules.environment;
    target.fn.addEnvironment("SCHEDULE_GROUP_NAME", SCHEDULE_GROUP_NAME as string);
    target.fn.addEnvironment("SCHEDULER_ROLE_ARN", SCHEDULER_ROLE_ARN as string);
    props.schedules.grantManage(target.fn);
  }
  if (access.describesSecrets) grantDescribeSecrets(target.fn);
  if (access.settlesReadiness) {
    // What an instance reports is masked with the stack's secrets before it goes anywhere.
    grantReadSecrets(target.fn);
    if (!props.callbackSecret) throw new Error("settling readiness needs the callback secret");
    // A readiness callback settles WaitUntilReady's token.
    for (const w of [props.provision, props.destroy])
      if (w.invokes("WaitUntilReady")) w.grantTaskResponseByName(target.fn);
    target.fn.addToRolePolicy(
      new PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [props.callbackSecret.secretArn],
      }),
    );
  }
}
