import type { BootstrapLeases } from "../../providers/aws/leases.ts";
import { StoreError } from "../errors.ts";
import { bootstrapKey, ITEM_KINDS } from "../keys.ts";
import { bootstrapToItem, itemToBootstrap } from "../records.ts";
import { createTableClient, keyAttrs, type TableOptions } from "./table-client.ts";

/**
 * The aws provider's bootstrap leases in the table, one item per credential and region in the
 * team's partition. A claim is one conditional update; the lease is compared as ISO text.
 */
export function createDynamoBootstrapLeases(options: TableOptions): BootstrapLeases {
  const table = createTableClient(options);
  return {
    async getBootstrap(team, credential, region) {
      const what = `bootstrap of credential \`${credential}\` in ${region}`;
      const item = await table.getItem(keyAttrs(bootstrapKey(team, credential, region)), what);
      return item && itemToBootstrap(item);
    },

    async claimBootstrap(team, credential, region, claim) {
      const what = `bootstrap of credential \`${credential}\` in ${region}`;
      const out = await table.conditionalUpdate(
        {
          Key: keyAttrs(bootstrapKey(team, credential, region)),
          UpdateExpression:
            "SET #kind = :kind, team = :team, credential = :credential, #region = :region, #status = :creating, #owner = :owner, leaseUntil = :until, updatedAt = :now REMOVE resources",
          // A READY record has no lease: only `force` takes it over.
          ConditionExpression: `attribute_not_exists(pk) OR #owner = :owner OR leaseUntil < :now${claim.force ? " OR #status = :ready" : ""}`,
          ExpressionAttributeNames: {
            "#kind": "kind",
            "#region": "region",
            "#status": "status",
            "#owner": "owner",
          },
          ExpressionAttributeValues: {
            ":kind": { S: ITEM_KINDS.bootstrap },
            ":team": { S: team },
            ":credential": { S: credential },
            ":region": { S: region },
            ":creating": { S: "CREATING" },
            ":owner": { S: claim.owner },
            ":until": { S: claim.until },
            ":now": { S: claim.now },
            ...(claim.force ? { ":ready": { S: "READY" } } : {}),
          },
        },
        what,
      );
      if (out.ok) return { claimed: true };
      if (out.current === undefined) throw new StoreError(`${what}: the claim failed but no record exists`);
      return { claimed: false, record: itemToBootstrap(out.current) };
    },

    async putBootstrap(record) {
      await table.putItem(
        bootstrapToItem(record),
        `bootstrap of credential \`${record.credential}\` in ${record.region}`,
      );
    },
  };
}
