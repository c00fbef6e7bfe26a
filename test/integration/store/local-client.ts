/**
 * A separate teamstack-like process for the local daemon tests:
 * `node local-client.ts <stateDir> <team> <stackId>` connects to the state directory's store
 * (starting the daemon if needed), and prints the daemon's pid and the stack it finds, as JSON.
 */
import { ensureLocalStore } from "../../../src/local/dynamo.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";

const [stateDir, team, stackId] = process.argv.slice(2);
if (stateDir === undefined || team === undefined || stackId === undefined) {
  console.error("usage: node local-client.ts <stateDir> <team> <stackId>");
  process.exit(2);
}
const local = await ensureLocalStore(stateDir);
try {
  const store = createDynamoStore({ client: local.client, tableName: local.tableName });
  const stack = await store.getStack({ team, stackId });
  console.log(JSON.stringify({ pid: local.pid, member: stack?.member ?? null }));
} finally {
  local.close();
}
