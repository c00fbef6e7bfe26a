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
import { createSimProvider } from "../../src/providers/sim.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { requireEnv } from "./env.ts";

/**
 * The task functions' dependencies in AWS, built once per cold start: the DynamoDB table named by
 * TABLE_NAME, Step Functions for task tokens and lock holders. `sim` servers run in AWS too (dry
 * runs of a deployment); the `aws` provider arrives with the deployment issue.
 */
/** The store on the table named by TABLE_NAME. */
export function buildAwsStore(env: NodeJS.ProcessEnv = process.env) {
  return createDynamoStore({ client: new DynamoDBClient({}), tableName: requireEnv("TABLE_NAME", env) });
}

export function buildAwsDeps(env: NodeJS.ProcessEnv = process.env): PipelineDeps {
  const store = buildAwsStore(env);
  const sfn = new SFNClient({});
  const sim = createSimProvider({});
  const provider = (name: ProviderName): Provider => {
    if (name === "sim") return sim;
    throw new ProviderUnavailableError(`the ${name} provider is not available in this deployment`);
  };
  let deps: PipelineDeps;
  const readiness: Readiness = {
    // A sim server is ready after its boot time: wait for it within this invocation.
    async watch({ provider: name, ref, token }) {
      const result = await provider(name).waitUntilReady(ref);
      await settleReadiness(deps, token, result);
    },
  };
  deps = {
    store,
    provider,
    tokens: createSfnTaskTokens(sfn),
    readiness,
    executions: createSfnExecutions(sfn),
    hooks: createHookRunner({ store, provider }),
    events: createEventBridgePublisher(new EventBridgeClient({}), requireEnv("EVENT_BUS_NAME", env)),
    secrets: createAwsSecrets(new SecretsManagerClient({})),
    now: () => new Date(),
  };
  return deps;
}
