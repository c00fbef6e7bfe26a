import middy from "@middy/core";
import { checkSchema, type Schema } from "../../src/api/json-schema.ts";
import { ROUTES } from "../../src/api/routes.ts";
import type { SignupEvent } from "../../src/api/service.ts";
import { ERROR_NAMES } from "../../src/core/error-names.ts";
import { TeamstackError } from "../../src/core/errors.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsService } from "../shared/service.ts";

/** An event that is not a valid `Team Member Signed Up`: EventBridge sends it to the dead-letter queue. */
export class InvalidEventError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.InvalidEventError;
  }
}

const service = buildAwsService();
const schema = ROUTES.find((r) => r.path === "/events")?.body as Schema;

/**
 * Consumes `Team Member Signed Up` from EventBridge: provisions the team's default template for the
 * member, through the same code as POST /stacks. The event id makes a redelivery start nothing new;
 * a member who has a stack of that name already keeps it (no execution: `executionName` null).
 */
export async function onSignup(
  event: SignupEvent,
): Promise<{ stackId: string; executionName: string | null }> {
  const problem = checkSchema(event, schema, "event");
  if (problem) throw new InvalidEventError(problem);
  return service.signup(event);
}

export const handler = middy<SignupEvent>().use(lambdaLogging()).handler(onSignup);
