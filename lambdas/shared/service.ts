import { SFNClient } from "@aws-sdk/client-sfn";
import { createSfnExecutions } from "../../src/adapters/sfn-executions.ts";
import { createSfnOrchestrator } from "../../src/adapters/sfn-orchestrator.ts";
import { createSfnTaskTokens } from "../../src/adapters/sfn-task-tokens.ts";
import { StackService } from "../../src/api/service.ts";
import { createAwsSecrets } from "../../src/secrets/aws-secrets.ts";
import { createDynamoRolloutStore } from "../../src/store/dynamo/rollouts.ts";
import { createDynamoServerLogs } from "../../src/store/dynamo/server-logs.ts";
import { callbackSecretLoader } from "./callback-secret.ts";
import { optionalEnv, requireEnv } from "./env.ts";
import { buildAwsEvents } from "./events.ts";
import { buildAwsProviderSet } from "./providers.ts";
import { buildAwsSchedules } from "./schedules.ts";
import { secretsManagerClient } from "./secrets.ts";
import { awsTable, buildAwsServiceStore } from "./store.ts";

/**
 * The StackService in AWS: the table, executions started on the deployed state machines, the
 * registry's providers that run in Lambda (their preflights checked before a stack starts), and
 * the readiness callbacks of servers that report themselves (signed with CALLBACK_SECRET_ARN, read
 * on the first callback), and, where EVENT_BUS_NAME is set, the bus `Rollout Finished` goes to.
 */
export function buildAwsService(env: NodeJS.ProcessEnv = process.env): StackService {
  const sfn = new SFNClient({});
  const secretsManager = secretsManagerClient();
  const store = buildAwsServiceStore(env);
  const providers = buildAwsProviderSet(store, env);
  return new StackService({
    store,
    // The console's member and credential lists, and the team's outbound events.
    directory: store,
    rollouts: createDynamoRolloutStore(awsTable(env)),
    logs: createDynamoServerLogs(awsTable(env)),
    provider: (name) => providers.provider(name),
    orchestrator: createSfnOrchestrator(sfn, {
      provision: requireEnv("PROVISION_STATE_MACHINE_ARN", env),
      destroy: requireEnv("DESTROY_STATE_MACHINE_ARN", env),
      ...(optionalEnv("POWER_STATE_MACHINE_ARN", env)
        ? { power: optionalEnv("POWER_STATE_MACHINE_ARN", env) }
        : {}),
    }),
    // Set where the function may move schedules (the API: `extend`).
    ...(optionalEnv("SCHEDULE_GROUP_NAME", env) ? { schedules: buildAwsSchedules(env) } : {}),
    executions: createSfnExecutions(sfn),
    providers: providers.available,
    preflight: (team, servers, simulate) => providers.preflight(team, servers, simulate),
    tokens: createSfnTaskTokens(sfn),
    callbackSecret: callbackSecretLoader(secretsManager, env),
    secrets: createAwsSecrets(secretsManager),
    // `Rollout Finished`, from the functions that advance rollouts (the API, lambdas/rollout).
    ...(optionalEnv("EVENT_BUS_NAME", env) ? { events: buildAwsEvents(env) } : {}),
    now: () => new Date(),
  });
}
