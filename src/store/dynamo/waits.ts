import type { StackKey, StackRuns, WaitUpdate } from "../../ports/store.ts";
import type { Item } from "../codec.ts";
import { ServerRecordNotFoundError } from "../errors.ts";
import { serverKey } from "../keys.ts";
import { itemToServer } from "../records.ts";
import { releaseFor } from "../wait-release.ts";
import { keyAttrs, type TableClient } from "./table-client.ts";

/**
 * The wait protocol's updates of a server record. Each returns the record afterwards and, to
 * exactly one caller per wait token, the result to send: after an update leaves the record "token
 * present and every dependency ready (or one failed)", the caller claims the token with a
 * conditional write of `releasedToken`/`releasedBy`; the first claimant wins, and only a retry of
 * the same call may claim it again. Updates for an older run than the record's are ignored.
 */
export function createDynamoWaits(
  table: TableClient,
): Pick<StackRuns, "setWaitToken" | "removePending" | "setFailedDep"> {
  /**
   * One step of the protocol: the update (conditional on the run), then, if the record now calls
   * for a release, the claim. `who` identifies the call, so that its own retry may re-claim.
   */
  async function waitUpdate(
    key: StackKey,
    name: string,
    run: number,
    who: string,
    update: { expression: string; names?: Record<string, string>; values: Item },
  ): Promise<WaitUpdate> {
    const itemKey = keyAttrs(serverKey(key, name));
    const what = `server \`${name}\` of stack \`${key.stackId}\``;
    const updated = await table.conditionalUpdate(
      {
        Key: itemKey,
        UpdateExpression: update.expression,
        ConditionExpression: "#run = :run",
        ExpressionAttributeNames: { "#run": "run", ...update.names },
        ExpressionAttributeValues: { ":run": { N: String(run) }, ...update.values },
        ReturnValues: "ALL_NEW",
      },
      what,
    );
    if (!updated.ok) {
      if (updated.current === undefined) throw new ServerRecordNotFoundError(key.stackId, name);
      return itemToServer(updated.current); // prepared for another run: leave it alone
    }
    const record = itemToServer(updated.item);
    const wanted = releaseFor(record);
    if (wanted === undefined) return record;
    const claimed = await table.conditionalUpdate(
      {
        Key: itemKey,
        UpdateExpression: "SET releasedToken = :token, releasedBy = :who",
        ConditionExpression:
          "#run = :run AND waitToken = :token AND (attribute_exists(failedDep) OR attribute_not_exists(pending))" +
          " AND (attribute_not_exists(releasedToken) OR releasedToken <> :token OR releasedBy = :who)",
        ExpressionAttributeNames: { "#run": "run" },
        ExpressionAttributeValues: {
          ":run": { N: String(run) },
          ":token": { S: wanted.token },
          ":who": { S: who },
        },
        ReturnValues: "ALL_NEW",
      },
      what,
    );
    if (!claimed.ok) return claimed.current === undefined ? record : itemToServer(claimed.current);
    const after = itemToServer(claimed.item);
    const release = releaseFor(after);
    return release === undefined ? after : { ...after, release };
  }

  return {
    setWaitToken(key, name, run, token) {
      return waitUpdate(key, name, run, "wait", {
        expression: "SET waitToken = :token",
        values: { ":token": { S: token } },
      });
    },

    removePending(key, name, run, dep) {
      return waitUpdate(key, name, run, `dep#${dep}`, {
        expression: "DELETE pending :dep",
        values: { ":dep": { SS: [dep] } },
      });
    },

    setFailedDep(key, name, run, dep) {
      return waitUpdate(key, name, run, `failed#${dep}`, {
        expression: "SET failedDep = if_not_exists(failedDep, :dep)",
        values: { ":dep": { S: dep } },
      });
    },
  };
}
