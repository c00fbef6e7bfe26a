import middy from "@middy/core";
import { checkDestroyed } from "../../src/pipeline/destroy.ts";
import type { RunInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsStore } from "../shared/store.ts";

/** The CheckDestroyed task of the destroy state machine (`${CheckDestroyedFunctionArn}`). */
const deps = { store: buildAwsStore() };

export const handler = middy<RunInput>()
  .use(lambdaLogging())
  .handler((event) => checkDestroyed(deps, event));
