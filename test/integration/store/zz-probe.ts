import { createHash } from "node:crypto";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";
import { startDynalite } from "./dynalite.ts";

const db = await startDynalite();
await createTable(db.client, "ttt");
const store = createDynamoStore({ client: db.client, tableName: "ttt" });
const counts: Record<string, number> = {};
db.client.middlewareStack.add(
  (next, ctx) => async (args) => {
    counts[ctx.commandName as string] = (counts[ctx.commandName as string] ?? 0) + 1;
    try {
      return await next(args);
    } catch (e) {
      counts[`${ctx.commandName} fail`] = (counts[`${ctx.commandName} fail`] ?? 0) + 1;
      throw e;
    }
  },
  { step: "initialize", name: "c" },
);
const y = "servers: []\n";
const h = createHash("sha256").update(y).digest("hex");
for (let round = 0; round < 3; round++) {
  const rs = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      store.putTemplateVersion({
        team: "a",
        name: `b${round}`,
        yaml: y,
        hash: h,
        author: `p${i}`,
        createdAt: "x",
      }),
    ),
  );
  console.log(rs.map((r) => `${r.version.version}/${r.created}/${r.version.author}`).join(" "), counts);
}
await db.close();
