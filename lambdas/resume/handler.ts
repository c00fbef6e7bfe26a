import middy from "@middy/core";
import { resume } from "../../src/pipeline/finish.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsExecutions } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/**
 * The Resume task of the state machines (`${ResumeFunctionArn}`). Builds, once per cold start,
 * only what the task takes, so that its bundle carries nothing else.
 */
const deps = { store: buildAwsStore(), executions: buildAwsExecutions(), now: () => new Date() };

export const handler = middy<Parameters<typeof resume>[1]>()
  .use(lambdaLogging())
  .handler((event) => resume(deps, event));
