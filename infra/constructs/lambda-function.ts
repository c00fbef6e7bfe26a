import { createRequire } from "node:module";
import { join } from "node:path";
import { ArnFormat, type Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  type IDestination,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from "aws-cdk-lib/aws-lambda";
import { type BundlingOptions, LogLevel, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct, type IConstruct } from "constructs";
import type { BuildOptions } from "esbuild";
import { type DeploymentGrant, providersIn } from "../../src/core/providers.ts";
import { factoryImport, PROVIDERS } from "../../src/providers/registry.ts";

/**
 * Lets CommonJS dependencies bundled into an ESM file (`yaml` requires `process`) call `require`.
 * The import is aliased so that it cannot clash with a name in the bundle.
 */
export const ESM_REQUIRE_BANNER =
  "import{createRequire as __teamstackCreateRequire}from'node:module';const require=__teamstackCreateRequire(import.meta.url);";

/**
 * Modules the Lambda runtime provides and the bundles therefore leave out: the Node.js 24
 * runtime ships the AWS SDK for JavaScript v3 (every client) in /var/runtime/node_modules.
 * Trade-off: the functions run on the runtime's SDK version, which AWS updates with the runtime,
 * not on the version package-lock.json pins (tests run on the pinned one). In exchange each
 * bundle loses ~450 KB and a cold start reads the SDK from the runtime's files.
 */
export const RUNTIME_PROVIDED_MODULES: readonly string[] = ["@aws-sdk/*"];

/**
 * The factories of the registry's providers that do not run in Lambda (`local`: sandboxes on one
 * machine), left out of every bundle. The registry loads a factory with `import()` only when its
 * provider is used, and the Lambda wiring refuses such a provider before it loads anything, so
 * the import is never reached there. Each provider's folder bears its name (the registry test
 * checks it).
 */
export const PROVIDERS_LEFT_OUT: readonly string[] = PROVIDERS.names
  .filter((name) => !providersIn(PROVIDERS, "lambda").includes(name))
  .map(factoryImport);

/**
 * Modules only a terminal uses (the aws provider's `teamstack shell`: ssh-keygen, ssh), imported
 * with `import()` by the one method no task calls, left out of every bundle.
 */
export const SHELL_ONLY_MODULES: readonly string[] = ["./ssh-shell.ts"];

/** The Node.js version the functions run on: the one package.json pins. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
const ESBUILD_TARGET = "node24";
const MAIN_FIELDS = ["module", "main"];

/** How every function is bundled: by the local esbuild (never Docker), into one minified ESM file. */
export function lambdaBundling(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    mainFields: MAIN_FIELDS,
    target: ESBUILD_TARGET,
    minify: true,
    sourceMap: false,
    externalModules: [...RUNTIME_PROVIDED_MODULES, ...PROVIDERS_LEFT_OUT, ...SHELL_ONLY_MODULES],
    banner: ESM_REQUIRE_BANNER,
    forceDockerBundling: false,
    logLevel: LogLevel.WARNING,
  };
}

/**
 * esbuild's own options for what lambdaBundling() asks of NodejsFunction (the command line it
 * runs, as options): `npm run bench` builds with them, and test/infra checks that they produce the
 * very file the deployment uploads.
 */
export function esbuildOptions(entry: string, outfile: string): BuildOptions {
  const b = lambdaBundling();
  return {
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: b.format as OutputFormat,
    target: b.target as string,
    outfile,
    minify: b.minify as boolean,
    external: [...(b.externalModules ?? [])],
    logLevel: b.logLevel as LogLevel,
    banner: { js: b.banner as string },
    mainFields: [...(b.mainFields ?? [])],
  };
}

/** The level below which Lambda drops a function's own log lines (its application log level). */
export type FunctionLogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

export interface TeamstackFunctionProps {
  /** The repository root (holds lambdas/ and package-lock.json). */
  readonly projectRoot: string;
  /** The folder under lambdas/ whose handler.ts is the entry, e.g. `api`. */
  readonly folder: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize?: number;
  /** Variables the handler reads. */
  readonly environment: Readonly<Record<string, string>>;
  readonly logLevel: FunctionLogLevel;
  /** Where a failed asynchronous invocation goes after its retries (EventBridge invokes so). */
  readonly onFailure?: IDestination;
  /** Retries of a failed asynchronous invocation (Lambda's default: 2). */
  readonly retryAttempts?: number;
}

/**
 * One teamstack Lambda: lambdas/<folder>/handler.ts bundled by lambdaBundling() for Node 24 on
 * arm64, logging JSON lines (Lambda's own format: timestamp, level, request id; the handler's lines
 * below `logLevel` and the platform's below WARN dropped by Lambda) to a log group of its own through a
 * role of its own that may write there and nowhere else (no AWSLambdaBasicExecutionRole, whose
 * log permissions reach every log group). Callers add exactly what the handler calls.
 * @throws Error when esbuild is not installed (the CDK would silently bundle in Docker instead).
 */
export class TeamstackFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  readonly entry: string;

  constructor(scope: Construct, id: string, props: TeamstackFunctionProps) {
    super(scope, id);
    requireLocalEsbuild(props.projectRoot);
    this.entry = join(props.projectRoot, "lambdas", props.folder, "handler.ts");
    // Named here rather than after the function (`/aws/lambda/<generated name>`), so that the role
    // can name it without depending on the function; deleted with the stack, like the machines'.
    this.logGroup = new LogGroup(this, "Logs", {
      logGroupName: `/teamstack/${Stack.of(this).stackName}/lambda/${props.folder}`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `teamstack lambdas/${props.folder}: writes its own logs, and what the stack grants it`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.fn = new NodejsFunction(this, "Function", {
      entry: this.entry,
      handler: "handler",
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel[props.logLevel],
      systemLogLevelV2: SystemLogLevel.WARN,
      environment: { ...props.environment },
      ...(props.onFailure ? { onFailure: props.onFailure } : {}),
      ...(props.retryAttempts !== undefined ? { retryAttempts: props.retryAttempts } : {}),
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, "package-lock.json"),
      bundling: lambdaBundling(),
    });
  }
}

/** Where src/secrets/aws-secrets.ts keeps teamstack's secrets: `teamstack/TEAM/MEMBER|_team/NAME`. */
export const SECRETS_PREFIX = "teamstack/";

/**
 * Lets a function read teamstack's secrets (secretsmanager:GetSecretValue below `teamstack/`):
 * one function serves every team, so the prefix is as narrow as a grant can be.
 */
export function grantReadSecrets(grantee: IGrantable): void {
  grantSecretsAction(grantee, "secretsmanager:GetSecretValue");
}

/** Lets a function see whether a secret below `teamstack/` is set, without reading it. */
export function grantDescribeSecrets(grantee: IGrantable): void {
  grantSecretsAction(grantee, "secretsmanager:DescribeSecret");
}

function grantSecretsAction(grantee: IGrantable, action: string): void {
  const stack = Stack.of(grantee.grantPrincipal as unknown as IConstruct);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [action],
      resources: [
        stack.formatArn({
          service: "secretsmanager",
          resource: "secret",
          resourceName: `${SECRETS_PREFIX}*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
    }),
  );
  Validations.of(grantee.grantPrincipal as unknown as IConstruct).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${SECRETS_PREFIX}*]`,
    reason:
      "Secrets are created per team and member at run time (`teamstack secrets set`), named teamstack/TEAM/MEMBER|_team/NAME, and one function serves every team: the teamstack/ prefix is the narrowest name a grant can give. Values are read only by the tasks that render user_data or run hooks; the API and signup functions may only describe (check that a member's secret is set).",
  });
}

/**
 * Grants a function one statement a provider's declaration asks for (`deployment.grants`), with
 * `{partition}` resolved, and records the declaration's reason for cdk-nag where a resource or an
 * action has a wildcard (a team's account is not known when teamstack is deployed).
 */
export function grantProviderStatement(grantee: IGrantable, grant: DeploymentGrant): void {
  const principal = grantee.grantPrincipal as unknown as IConstruct;
  const stack = Stack.of(principal);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...grant.actions],
      resources: grant.resources.map((r) => r.replaceAll("{partition}", stack.partition)),
    }),
  );
  const wildcards = [
    ...grant.resources
      .filter((r) => r.includes("*"))
      .map((r) => `Resource::${r.replaceAll("{partition}", "<AWS::Partition>")}`),
    ...grant.actions.filter((a) => a.includes("*")).map((a) => `Action::${a}`),
  ];
  for (const what of wildcards) {
    Validations.of(principal).acknowledge({ id: `AwsSolutions-IAM5[${what}]`, reason: grant.reason });
  }
}

function requireLocalEsbuild(projectRoot: string): void {
  try {
    createRequire(join(projectRoot, "package.json")).resolve("esbuild");
  } catch {
    throw new Error(
      "esbuild is not installed: run `npm ci` (the functions are bundled locally, not in Docker)",
    );
  }
}
