import middy from "@middy/core";
import { waitForDependents } from "../../src/pipeline/destroy.ts";
import type { TokenInput } from "../../src/pipeline/run.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsTokens } from "../shared/sfn.ts";
import { buildAwsStore } from "../shared/store.ts";

/** The WaitForDependents task of the destroy state machine (`${WaitForDependentsFunctionArn}`). */
const deps = { store: buildAwsStore(), tokens: buildAwsTokens() };

export const handler = middy<TokenInput>()
  .use(lambdaLogging())
  .handler((event) => waitForDependents(deps, event));
