import middy from "@middy/core";
import { checkRemoved } from "../../src/pipeline/destroy.ts";
import type { RunInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsStore } from "../shared/store.ts";

/** The CheckRemoved task of the provision state machine (`${CheckRemovedFunctionArn}`). */
const deps = { store: buildAwsStore() };

export const handler = middy<RunInput>()
  .use(lambdaLogging())
  .handler((event) => checkRemoved(deps, event));
