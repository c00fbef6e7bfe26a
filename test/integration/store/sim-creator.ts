/**
 * A separate process that creates sim servers under an account-wide create limit, for the rate
 * budget tests: `node sim-creator.ts <endpoint> <table> <stateDir> <stackId> <count> <rate> <burst>`
 * creates `count` servers at once (each waits for its turn in the table's budget) and exits.
 */
import { createSimProvider } from "../../../src/providers/sim/sim-provider.ts";
import { createDynamoRateBudget } from "../../../src/store/rate-budget.ts";
import { testClient } from "./dynalite.ts";

const [endpoint, tableName, stateDir, stackId, count, rate, burst] = process.argv.slice(2);
if (burst === undefined) {
  console.error("usage: node sim-creator.ts <endpoint> <table> <stateDir> <stackId> <count> <rate> <burst>");
  process.exit(2);
}
const client = testClient(endpoint as string);
const sim = createSimProvider({
  stateDir: stateDir as string,
  budget: createDynamoRateBudget({ client, tableName: tableName as string }),
});
// Told when to start, so that every process asks at once.
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    sim.create({
      stackId: stackId as string,
      team: "rate",
      member: "m",
      server: `s${i}`,
      type: "t3.micro",
      options: { create_rate: Number(rate), create_burst: Number(burst) },
      userData: "",
      idempotencyToken: `${stackId}.s${i}.1`,
    }),
  ),
);
client.destroy();
console.log("done");
