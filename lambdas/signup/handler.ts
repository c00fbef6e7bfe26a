import middy from "@middy/core";
import { checkSchema, type Schema } from "../../src/api/json-schema.ts";
import { ROUTES } from "../../src/api/routes.ts";
import type { InboundEvent } from "../../src/api/service.ts";
import { ERROR_NAMES } from "../../src/core/error-names.ts";
import { TeamstackError } from "../../src/core/errors.ts";
import { lambdaLogging } from "../shared/logger.ts";
import { buildAwsService } from "../shared/service.ts";

/** An event that is not a valid `Team Member Signed Up` or `Team Member Left`: EventBridge sends it to the dead-letter queue. */
export class InvalidEventError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.InvalidEventError;
  }
}

const service = buildAwsService();
const schema = ROUTES.find((r) => r.path === "/events")?.body as Schema;

/**
 * Consumes the team events from EventBridge, through the same code as POST /events:
 * `Team Member Signed Up` provisions the team's default template for the member,
 * `Team Member Left` applies the team's on_member_left to the member's stacks (src/api/offboard.ts).
 * The event id makes a redelivery start nothing new.
 */
export async function onSignup(event: InboundEvent) {
  const problem = checkSchema(event, schema, "event");
  if (problem) throw new InvalidEventError(problem);
  return service.deliver(event);
}

export const handler = middy<InboundEvent>().use(lambdaLogging()).handler(onSignup);
