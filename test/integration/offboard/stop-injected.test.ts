import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { offboardExecutionName, offboardMember } from "../../../src/api/offboard.ts";
import type { Orchestrator } from "../../../src/api/service.ts";
import type { StackKey, StackRecord } from "../../../src/ports/store.ts";
import { createDynamoStore, type DynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "../store/dynalite.ts";

// on_member_left: stop, against an orchestrator that records the power machine's executions it is
// asked to start, on the real store: each stack is stopped once under a name made of the stack and
// the event, a redelivery stops nothing, a stopped stack is left as it is.

const TABLE = "offboard-stop";
let db: TestDynalite;
let store: DynamoStore;
const stops: { key: StackKey; name: string }[] = [];
const starts: string[] = [];
const orchestrator: Orchestrator = {
  async start(machine, key, name, input) {
    if (machine === "power" && input?.action === "stop") stops.push({ key, name });
    else starts.push(`${machine}:${name}`);
  },
};

function stack(stackId: string, member: string, status: string): StackRecord {
  return {
    team: "acme",
    stackId,
    member,
    status: status as StackRecord["status"],
    run: 1,
    templateYaml: "servers: []",
    templateFile: "t.yaml",
    templateHash: "h",
    userdata: {},
    simulate: [],
    createdAt: "2030-01-01T00:00:00.000Z",
    startedAt: "2030-01-01T00:00:00.000Z",
  };
}

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  store = createDynamoStore({ client: db.client, tableName: TABLE });
  await store.putTeamPolicy({
    team: "acme",
    providers: ["sim"],
    onMemberLeft: "stop",
    updatedAt: "2030-01-01T00:00:00.000Z",
    updatedBy: "root",
  });
  await store.createStack(stack("st-a", "gina", "SUCCEEDED"));
  await store.createStack(stack("st-b", "gina", "FAILED"));
  await store.createStack(stack("st-c", "gina", "DESTROYED"));
  await store.createStack(stack("st-d", "hal", "SUCCEEDED"));
});

afterAll(async () => {
  await db?.close();
});

describe("on_member_left: stop", () => {
  it("stops each of the member's stacks once, named from the stack and the event", async () => {
    const deps = { store, orchestrator, executions: { isRunning: async () => false }, now: () => new Date() };
    const event = {
      id: "evt-gina-left",
      source: "teamstack.teams",
      "detail-type": "Team Member Left",
      detail: { team: "acme", member: "gina" },
    };
    const first = await offboardMember(deps, event);
    expect(first.onMemberLeft).toBe("stop");
    expect(first.stacks.map((s) => [s.stackId, s.outcome]).sort()).toEqual([
      ["st-a", "started"],
      ["st-b", "started"],
    ]);
    expect(stops.map((s) => [s.key.stackId, s.name]).sort()).toEqual([
      ["st-a", offboardExecutionName("st-a", "evt-gina-left", "stop")],
      ["st-b", offboardExecutionName("st-b", "evt-gina-left", "stop")],
    ]);
    const again = await offboardMember(deps, event);
    expect(again.stacks.map((s) => s.outcome)).toEqual(["already", "already"]);
    expect(stops).toHaveLength(2);
    expect(starts).toEqual([]);
    const events = await store.listEvents({ team: "acme", stackId: "st-a" });
    expect(events.map((e) => e.message)).toEqual([
      `member gina left team acme (event evt-gina-left): stopping it (${offboardExecutionName("st-a", "evt-gina-left", "stop")}) (on_member_left: stop)`,
    ]);
    expect((await store.getStack({ team: "acme", stackId: "st-d" }))?.status).toBe("SUCCEEDED");
  });
});
