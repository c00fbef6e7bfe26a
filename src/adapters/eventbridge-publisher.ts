import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import type { EventPublisher } from "../ports/orchestration.ts";

export class EventPublishError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.EventPublishError;
  }
}

/** The EventPublisher port on EventBridge: one PutEvents per event, on the given bus. */
export function createEventBridgePublisher(client: EventBridgeClient, busName: string): EventPublisher {
  return {
    async publish(event) {
      const out = await client.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: busName,
              Source: event.source,
              DetailType: event.detailType,
              Time: new Date(event.time),
              // EventBridge has no idempotency key: the id travels in the detail for consumers to dedupe.
              Detail: JSON.stringify({ ...event.detail, eventId: event.id }),
            },
          ],
        }),
      );
      if ((out.FailedEntryCount ?? 0) > 0) {
        const entry = out.Entries?.[0];
        throw new EventPublishError(
          `EventBridge refused ${event.detailType}: ${entry?.ErrorCode} ${entry?.ErrorMessage}`,
        );
      }
    },
  };
}
