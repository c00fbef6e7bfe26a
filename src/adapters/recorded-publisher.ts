import type { EventPublisher } from "../ports/orchestration.ts";
import type { OutboundEventLog } from "../ports/store.ts";

/**
 * Publishes an outbound event by recording it in its team's event log (idempotent on its id),
 * then handing it to `next` (EventBridge in AWS; nothing more locally). Recorded first, so that
 * the team's Events page holds every event its consumers may have seen; a retry after a crash
 * between the two records nothing twice and publishes again (consumers dedupe on `eventId`).
 */
export function recordedPublisher(
  log: Pick<OutboundEventLog, "putOutboundEvent">,
  next?: EventPublisher,
): EventPublisher {
  return {
    async publish(event) {
      await log.putOutboundEvent(event);
      await next?.publish(event);
    },
  };
}
