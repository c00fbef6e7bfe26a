import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnOrchestrator } from "../../src/adapters/sfn-orchestrator.ts";
import { createSfnTaskTokens } from "../../src/adapters/sfn-task-tokens.ts";
import { StackService } from "../../src/api/service.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { requireEnv } from "./env.ts";
import { buildAwsStore } from "./store.ts";

/**
 * The StackService in AWS: the table, executions started on the deployed state machines, and the
 * readiness callbacks of aws servers (signed with CALLBACK_SECRET_ARN, read on the first callback).
 */
export function buildAwsService(env: NodeJS.ProcessEnv = process.env): StackService {
  const sfn = new SFNClient({});
  const secretsManager = new SecretsManagerClient({});
  return new StackService({
    store: buildAwsStore(env),
    orchestrator: createSfnOrchestrator(sfn, {
      provision: requireEnv("PROVISION_STATE_MACHINE_ARN", env),
      destroy: requireEnv("DESTROY_STATE_MACHINE_ARN", env),
    }),
    executions: createSfnExecutions(sfn),
    providers: ["aws", "sim"],
    tokens: createSfnTaskTokens(sfn),
    callbackSecret: callbackSecretLoader(secretsManager, env),
    secrets: createAwsSecrets(secretsManager),
    now: () => new Date(),
  });
}
