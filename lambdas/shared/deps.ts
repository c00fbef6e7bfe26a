import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { createEventBridgePublisher } from "../../src/adapters/eventbridge-publisher.ts";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnTaskTokens } from "../../src/adapters/sfn-task-tokens.ts";
import { createHookRunner } from "../../src/hooks/runner.ts";
import type { PipelineDeps } from "../../src/pipeline/context.ts";
import { ProviderUnavailableError } from "../../src/pipeline/errors.ts";
import { settleReadiness } from "../../src/pipeline/steps.ts";
import type { Readiness } from "../../src/ports/orchestration.ts";
import type { ProviderHost, ProviderModule } from "../../src/ports/provider.ts";
import type { Store } from "../../src/ports/store.ts";
import { type ProviderSet, providerSet } from "../../src/providers/provider-set.ts";
import { PROVIDER_MODULES } from "../../src/providers/registry.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";
import type { TableOptions } from "../../src/store/dynamo/table-client.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { optionalEnv, requireEnv } from "./env.ts";

/**
 * The task functions' dependencies in AWS, built once per cold start: the DynamoDB table named by
 * TABLE_NAME, Step Functions for task tokens and lock holders, and the registry's providers that
 * run in Lambda (src/providers/registry.ts), each made when a task first needs it (aws: EC2 in
 * each team's account, CALLBACK_BASE_URL and CALLBACK_SECRET_ARN read then; sim: dry runs of a
 * deployment).
 */
/** The table named by TABLE_NAME. */
export function awsTable(env: NodeJS.ProcessEnv = process.env): TableOptions {
  return { client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) };
}

/** The store on the table named by TABLE_NAME. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore(awsTable(env));
}

/**
 * The registry's providers that run in Lambda, over the table; servers whose readiness is
 * `callback` report to CALLBACK_BASE_URL with URLs signed by the CALLBACK_SECRET_ARN secret.
 */
export function buildAwsProviders(
  store: Store,
  table: TableOptions,
  secretsManager: SecretsManagerClient,
  env: NodeJS.ProcessEnv = process.env,
  modules: readonly ProviderModule[] = PROVIDER_MODULES,
): ProviderSet {
  const secret = callbackSecretLoader(secretsManager, env);
  const host: ProviderHost = {
    store,
    table,
    callback: async () => ({ baseUrl: requireEnv("CALLBACK_BASE_URL", env), secret: await secret() }),
  };
  return providerSet({
    modules,
    runtime: "lambda",
    host,
    unavailable: (name) =>
      new ProviderUnavailableError(`the ${name} provider is not available in this deployment`),
  });
}

export function buildAwsDeps(env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const table = awsTable(env);
  const store = createDynamoStore(table);
  const sfn = new SFNClient({});
  const secretsManager = new SecretsManagerClient({});
  const providers = buildAwsProviders(store, table, secretsManager, env);
  const provider = (name: string) => providers.provider(name);
  let deps: PipelineDeps;
  const readiness: Readiness = {
    async watch({ provider: name, ref, token, mask }) {
      // A server whose readiness is `callback` reports itself (POST /callbacks/ready/...), which
      // settles the token: nothing to wait for here.
      if (providers.catalog.lookup(name)?.capabilities.readiness === "callback") return;
      // Otherwise (sim: ready after its boot time) wait for it within this invocation.
      const result = await provider(name).waitUntilReady(ref);
      await settleReadiness(deps, token, result, mask);
    },
  };
  deps = {
    store,
    provider,
    catalog: providers.catalog,
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
