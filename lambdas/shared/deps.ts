import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { createEventBridgePublisher } from "../../src/adapters/eventbridge-publisher.ts";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnTaskTokens } from "../../src/adapters/sfn-task-tokens.ts";
import type { ProviderName } from "../../src/core/template.ts";
import { createHookRunner } from "../../src/hooks/runner.ts";
import type { PipelineDeps } from "../../src/pipeline/context.ts";
import { ProviderUnavailableError } from "../../src/pipeline/errors.ts";
import { settleReadiness } from "../../src/pipeline/steps.ts";
import type { Readiness } from "../../src/ports/orchestration.ts";
import type { Provider } from "../../src/ports/provider.ts";
import type { RateBudget } from "../../src/ports/rate-budget.ts";
import type { Store } from "../../src/ports/store.ts";
import { CredentialSource, createAwsProvider } from "../../src/providers/aws/index.ts";
import { createSimProvider } from "../../src/providers/sim.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { createDynamoRateBudget } from "../../src/store/rate-budget.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { optionalEnv, requireEnv } from "./env.ts";

/**
 * The task functions' dependencies in AWS, built once per cold start: the DynamoDB table named by
 * TABLE_NAME, Step Functions for task tokens and lock holders. `aws` servers are EC2 instances in
 * each team's account (the provider is made when a task first needs it: CALLBACK_BASE_URL and
 * CALLBACK_SECRET_ARN are read then); `sim` servers run in AWS too (dry runs of a deployment).
 */
/** The store on the table named by TABLE_NAME. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore({ client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) });
}

/**
 * Rate budgets in the table named by TABLE_NAME: RunInstances per account and region, sim creates,
 * shared by every container and every stack.
 */
export function buildRateBudget(env: NodeJS.ProcessEnv = process.env): RateBudget {
  return createDynamoRateBudget({ client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) });
}

/**
 * The `aws` provider in AWS: the team's role assumed through this function's STS (or the team's
 * keys read from Secrets Manager), instances reporting readiness to CALLBACK_BASE_URL. It loads the
 * EC2, SSM and STS clients on first use, so functions that never meet an aws server start as fast.
 */
export function buildAwsProvider(
  store: Store,
  secretsManager: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
  launches: RateBudget = buildRateBudget(env),
): Provider {
  const secret = callbackSecretLoader(secretsManager, env);
  return createAwsProvider({
    store,
    launches,
    credentials: new CredentialSource({ secretsManager }),
    callback: async () => ({ baseUrl: requireEnv("CALLBACK_BASE_URL", env), secret: await secret() }),
  });
}

export function buildAwsDeps(env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const store = buildAwsStore(env);
  const sfn = new SFNClient({});
  const secretsManager = new SecretsManagerClient({});
  const budget = buildRateBudget(env);
  const sim = createSimProvider({ budget });
  let aws: Provider | undefined;
  const provider = (name: ProviderName): Provider => {
    if (name === "sim") return sim;
    if (name === "aws") {
      aws ??= buildAwsProvider(store, secretsManager, env, budget);
      return aws;
    }
    throw new ProviderUnavailableError(`the ${name} provider is not available in this deployment`);
  };
  let deps: PipelineDeps;
  const readiness: Readiness = {
    async watch({ provider: name, ref, token, mask }) {
      // An aws instance reports itself (POST /callbacks/ready/...), which settles the token: nothing
      // to wait for here.
      if (name === "aws") return;
      // A sim server is ready after its boot time: wait for it within this invocation.
      const result = await provider(name).waitUntilReady(ref);
      await settleReadiness(deps, token, result, mask);
    },
  };
  deps = {
    store,
    provider,
    tokens: createSfnTaskTokens(sfn),
    readiness,
    executions: createSfnExecutions(sfn),
    // The run-hook function's webhooks pass the egress policy; an operator may allow ranges.
    hooks: createHookRunner({ store, provider, egressAllow: optionalEnv("TEAMSTACK_EGRESS_ALLOW", env) }),
    events: createEventBridgePublisher(new EventBridgeClient({}), requireEnv("EVENT_BUS_NAME", env)),
    secrets: createAwsSecrets(secretsManager),
    now: () => new Date(),
  };
  return deps;
}
