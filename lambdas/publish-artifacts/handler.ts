import middy from "@middy/core";
import { publishArtifacts, type ServerInput } from "../../src/pipeline/servers.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The PublishArtifacts task of the state machines (`${PublishArtifactsFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens(), now: () => new Date() };

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => publishArtifacts(deps, event));
