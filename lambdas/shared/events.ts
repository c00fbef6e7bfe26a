import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createEventBridgePublisher } from "../../src/adapters/eventbridge-publisher.ts";
import { recordedPublisher } from "../../src/adapters/recorded-publisher.ts";
import type { EventPublisher } from "../../src/ports/orchestration.ts";
import { createDynamoOutboundEventLog } from "../../src/store/dynamo/outbound-events.ts";
import { createTableClient } from "../../src/store/dynamo/table-client.ts";
import { requireEnv } from "./env.ts";
import { awsTable } from "./store.ts";

/**
 * `Stack Provisioned`, `Stack Failed` and the others: recorded in the team's event log in the
 * table named by TABLE_NAME (the console's Events page), then put on the bus named by
 * EVENT_BUS_NAME.
 */
export function buildAwsEvents(env: NodeJS.ProcessEnv = process.env): EventPublisher {
  return recordedPublisher(
    createDynamoOutboundEventLog(createTableClient(awsTable(env))),
    createEventBridgePublisher(new EventBridgeClient({}), requireEnv("EVENT_BUS_NAME", env)),
  );
}
