import type { OutboundEvent, OutboundEventLog } from "../../ports/store.ts";
import { ITEM_KINDS, OUTBOUND_EVENT_PREFIX, teamPk } from "../keys.ts";
import { itemToOutboundEvent, outboundEventTeam, outboundEventToItem } from "../records.ts";
import type { TableClient } from "./table-client.ts";

/** The outbound event log in the table: one item per event id, in the partition of its team. */
export function createDynamoOutboundEventLog(table: TableClient): OutboundEventLog {
  return {
    async putOutboundEvent(event) {
      // A second put of the same id is a retry: the first one stands.
      await table.putNew(
        outboundEventToItem(event),
        `outbound event \`${event.id}\` of team \`${outboundEventTeam(event)}\``,
      );
    },

    async listOutboundEvents(team) {
      const items =
        team === undefined
          ? await table.scanAll({
              FilterExpression: "kind = :kind",
              ExpressionAttributeValues: { ":kind": { S: ITEM_KINDS.outboundEvent } },
            })
          : await table.queryPrefix(teamPk(team), OUTBOUND_EVENT_PREFIX);
      return items.map(itemToOutboundEvent).sort(compareEvents);
    },
  };
}

/** Oldest first; events of the same time in id order, so that the order is stable. */
function compareEvents(a: OutboundEvent, b: OutboundEvent): number {
  const byTime = Date.parse(a.time) - Date.parse(b.time);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
