import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createEventBridgePublisher } from "../../src/adapters/eventbridge-publisher.ts";
import type { EventPublisher } from "../../src/ports/orchestration.ts";
import { requireEnv } from "./env.ts";

/** `Stack Provisioned` and `Stack Failed` onto the bus named by EVENT_BUS_NAME. */
export function buildAwsEvents(env: NodeJS.ProcessEnv = process.env): EventPublisher {
  return createEventBridgePublisher(new EventBridgeClient({}), requireEnv("EVENT_BUS_NAME", env));
}
