import middy from "@middy/core";
import { publishArtifacts, type ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";
import { lambdaLogging } from "../shared/logger.ts";

/** The PublishArtifacts task of the state machines (`${PublishArtifactsFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>()
  .use(lambdaLogging())
  .handler((event) => publishArtifacts(deps, event));
