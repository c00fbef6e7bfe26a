import middy from "@middy/core";
import { publishArtifacts, type ServerInput } from "../../src/pipeline/steps.ts";
import { buildAwsDeps } from "../shared/deps.ts";

/** The PublishArtifacts task of the state machines (`${PublishArtifactsFunctionArn}`). */
const deps = buildAwsDeps();

export const handler = middy<ServerInput>().handler((event) => publishArtifacts(deps, event));
