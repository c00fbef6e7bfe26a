import { existsSync, readFileSync } from "node:fs";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MissingConfigurationError, requireEnv } from "../../../lambdas/shared/env.ts";
import { createSfnExecutions } from "../../../src/adapters/sfn-executions.ts";
import { createSfnTaskTokens } from "../../../src/adapters/sfn-task-tokens.ts";
import { loadMachine } from "../../../src/local/asl-runner.ts";
import { createDynamoStore } from "../../../src/store/dynamo-store.ts";
import { createTable } from "../../../src/store/table.ts";
import { checkLambdaAnswer } from "../../support/openapi-check.ts";
import { startDynalite, type TestDynalite } from "../store/dynalite.ts";

// The Lambda handlers against a real DynamoDB API (dynalite) and Step Functions mocked at the
// SDK boundary: the one AWS service that cannot run here.
const sfn = mockClient(SFNClient);
const eventBridge = mockClient(EventBridgeClient);
// No secrets are set in these tests: Secrets Manager answers as an empty one does.
const secretsManager = mockClient(SecretsManagerClient);
let db: TestDynalite;
const TABLE = "teamstack-test";
const kebab = (name: string) =>
  name.replace(/[A-Z]/g, (c, i: number) => `${i > 0 ? "-" : ""}${c.toLowerCase()}`);

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  process.env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;
  process.env.AWS_REGION = "us-east-1";
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  process.env.TABLE_NAME = TABLE;
  process.env.EVENT_BUS_NAME = "teamstack-test";
  process.env.PROVISION_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:provision";
  process.env.DESTROY_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:destroy";
});

afterAll(async () => {
  secretsManager.restore();
  sfn.restore();
  eventBridge.restore();
  await db.close();
});

beforeEach(() => {
  secretsManager.reset();
  secretsManager
    .on(DescribeSecretCommand)
    .rejects(Object.assign(new Error("none"), { name: "ResourceNotFoundException" }));
  secretsManager
    .on(GetSecretValueCommand)
    .rejects(Object.assign(new Error("none"), { name: "ResourceNotFoundException" }));
  sfn.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
});

async function stack(key: { team: string; stackId: string }) {
  const now = new Date().toISOString();
  await createDynamoStore({ client: db.client, tableName: TABLE }).createStack({
    ...key,
    member: "m",
    status: "RUNNING",
    run: 1,
    templateYaml:
      "servers:\n  - { name: db, provider: sim, type: t3.micro }\n  - { name: app, provider: sim, type: t3.micro, depends_on: [db] }\n",
    templateFile: "t.yaml",
    templateHash: "h",
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
}

/** A stack with `db` being created and `app` waiting for it, as Prepare leaves them. */
async function dbAndApp(stackId: string) {
  const store = createDynamoStore({ client: db.client, tableName: TABLE });
  const key = { team: "t1", stackId };
  await stack(key);
  const base = { ...key, provider: "sim", type: "t3.micro", run: 1, attempt: 1 };
  await store.putServer({
    ...base,
    name: "db",
    status: "CREATING",
    deps: [],
    pending: [],
    dependents: ["app"],
  });
  await store.putServer({
    ...base,
    name: "app",
    status: "PENDING",
    deps: ["db"],
    pending: ["db"],
    dependents: [],
  });
  return { store, key };
}

describe("the Lambda handlers", () => {
  it("has one handler folder for every function the state machines invoke", () => {
    const names = new Set<string>();
    for (const f of ["provision", "destroy", "power"]) {
      for (const fn of loadMachine(new URL(`../../../statemachines/${f}.asl.json`, import.meta.url))
        .functions) {
        names.add(fn);
      }
    }
    for (const fn of names) {
      const file = new URL(`../../../lambdas/${kebab(fn)}/handler.ts`, import.meta.url);
      expect(existsSync(file), `lambdas/${kebab(fn)}/handler.ts`).toBe(true);
      expect(readFileSync(file, "utf8")).toContain(`\${${fn}FunctionArn}`);
    }
  });

  it("parks a wait token and releases it through SendTaskSuccess when the last dependency is ready", async () => {
    const { store, key } = await dbAndApp("s1");

    const wait = (await import("../../../lambdas/wait-for-dependencies/handler.ts")).handler;
    const publish = (await import("../../../lambdas/publish-artifacts/handler.ts")).handler;
    await wait({ ...key, run: 1, server: "app", token: "token-app" }, {} as never);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);

    await publish({ ...key, run: 1, server: "db" }, {} as never);
    const calls = sfn.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      taskToken: "token-app",
      output: JSON.stringify({ server: "app" }),
    });
    expect((await store.getServer(key, "db"))?.status).toBe("SUCCEEDED");
    expect((await store.getServer(key, "app"))?.pending).toEqual([]);
  });

  it("fails the waits of dependents through SendTaskFailure when a server fails", async () => {
    const { store, key } = await dbAndApp("s2");
    const wait = (await import("../../../lambdas/wait-for-dependencies/handler.ts")).handler;
    const fail = (await import("../../../lambdas/mark-server-failed/handler.ts")).handler;
    await wait({ ...key, run: 1, server: "app", token: "token-app" }, {} as never);
    // In AWS the Catch's Cause is the Lambda's error as a JSON string.
    const cause = JSON.stringify({ errorType: "UserDataFailedError", errorMessage: "user_data exited 3" });
    await fail(
      { ...key, run: 1, server: "db", error: { Error: "UserDataFailedError", Cause: cause } },
      {} as never,
    );
    const calls = sfn.commandCalls(SendTaskFailureCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({ taskToken: "token-app", error: "DependencyFailedError" });
    expect(calls[0]?.args[0].input.cause).toContain("`db`");
    expect((await store.getServer(key, "db"))?.error).toBe("user_data exited 3");
  });
});

describe("the API and signup Lambdas", () => {
  const httpEvent = (
    method: string,
    path: string,
    body?: string,
    claims?: Record<string, string>,
    headers = {},
  ) => ({
    rawPath: path,
    headers,
    ...(body !== undefined ? { body } : {}),
    requestContext: { http: { method }, ...(claims ? { authorizer: { jwt: { claims } } } : {}) },
  });
  // API Gateway's JWT authorizer passes claims as strings.
  const admin = { sub: "root", "teamstack:team": "lam", "teamstack:admin": "true" };

  it("serves API Gateway requests with the claims of its JWT authorizer and starts named executions", async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: "arn:x" });
    const api = (await import("../../../lambdas/api/handler.ts")).handler;
    // Every answer checked against the /openapi.json the handler serves.
    const handler = async (event: Parameters<typeof api>[0], context: never) =>
      checkLambdaAnswer(event, await api(event, context));
    const yaml = "servers:\n  - { name: a, provider: sim, type: t3.micro }\n";
    const put = await handler(httpEvent("PUT", "/teams/lam/templates/web", yaml, admin), {} as never);
    expect(put.statusCode).toBe(201);
    expect((await handler(httpEvent("GET", "/teams/lam/templates"), {} as never)).statusCode).toBe(401);
    const body = JSON.stringify({ template: "web", member: "root" });
    const created = await handler(
      httpEvent("POST", "/teams/lam/stacks", body, admin, { "Idempotency-Key": "k1" }),
      {} as never,
    );
    expect(created.statusCode).toBe(202);
    const { stackId, executionName } = JSON.parse(created.body) as { stackId: string; executionName: string };
    const starts = sfn.commandCalls(StartExecutionCommand);
    expect(starts).toHaveLength(1);
    expect(starts[0]?.args[0].input).toEqual({
      stateMachineArn: process.env.PROVISION_STATE_MACHINE_ARN,
      name: executionName,
      input: JSON.stringify({ team: "lam", stackId }),
    });
    const base64 = await handler(
      {
        ...httpEvent("POST", "/teams/lam/stacks", undefined, admin, { "Idempotency-Key": "k1" }),
        body: Buffer.from(body).toString("base64"),
        isBase64Encoded: true,
      },
      {} as never,
    );
    expect(JSON.parse(base64.body)).toEqual({ stackId, executionName });
  });

  it("provisions the default template under one execution name per signup event id, however often it arrives", async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: "arn:x" });
    const api = (await import("../../../lambdas/api/handler.ts")).handler;
    const setDefault = httpEvent("POST", "/teams/lam/templates/web/default", undefined, admin);
    checkLambdaAnswer(setDefault, await api(setDefault, {} as never));
    const { handler } = await import("../../../lambdas/signup/handler.ts");
    const event = {
      id: "evt-1",
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team: "lam", member: "dana" },
    };
    const first = await handler(event, {} as never);
    const second = await handler(event, {} as never);
    expect(second).toEqual(first);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual([
      first.executionName,
      first.executionName,
    ]);
    await expect(handler({ ...event, source: "elsewhere" } as never, {} as never)).rejects.toThrow(/source/);
  });
});

describe("the functions' outbound events", () => {
  it("records each event in its team's log before putting it on the bus, once per id, and the API lists it", async () => {
    eventBridge.reset();
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "eb-1" }] });
    const { buildAwsEvents } = await import("../../../lambdas/shared/events.ts");
    const events = buildAwsEvents();
    const event = {
      id: "s-9:1:provisioned",
      source: "teamstack.stacks",
      detailType: "Stack Provisioned",
      time: "2030-05-01T10:00:00.000Z",
      detail: { team: "evt", stackId: "s-9", member: "ana", run: 1 },
    };
    await events.publish(event);
    await events.publish({ ...event, time: "2030-05-01T10:00:05.000Z" }); // a task's retry
    const store = createDynamoStore({ client: db.client, tableName: TABLE });
    expect(await store.listOutboundEvents("evt")).toEqual([event]);
    expect(await store.listOutboundEvents("elsewhere")).toEqual([]);
    const puts = eventBridge.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries?.[0]);
    expect(puts).toHaveLength(2);
    expect(JSON.parse(puts[0]?.Detail ?? "{}")).toEqual({ ...event.detail, eventId: event.id });

    // The bus refusing it leaves the record, and the task fails (its retry publishes again).
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "try again" }],
    });
    const failed = {
      ...event,
      id: "s-9:2:failed",
      detailType: "Stack Failed",
      time: "2030-05-01T11:00:00.000Z",
    };
    await expect(events.publish(failed)).rejects.toThrow(
      "EventBridge refused Stack Failed: InternalFailure try again",
    );
    expect((await store.listOutboundEvents("evt")).map((e) => e.id)).toEqual([event.id, failed.id]);

    // The deployed console's Events page reads them, newest first, for the team's admins only.
    const api = (await import("../../../lambdas/api/handler.ts")).handler;
    const get = (claims: Record<string, string>) => ({
      rawPath: "/teams/evt/events",
      headers: {},
      requestContext: { http: { method: "GET" }, authorizer: { jwt: { claims } } },
    });
    const adminClaims = { sub: "root", "teamstack:team": "evt", "teamstack:admin": "true" };
    const listed = checkLambdaAnswer(get(adminClaims), await api(get(adminClaims), {} as never));
    expect(listed.statusCode).toBe(200);
    expect((JSON.parse(listed.body) as { events: { id: string }[] }).events.map((e) => e.id)).toEqual([
      failed.id,
      event.id,
    ]);
    const memberClaims = { sub: "ana", "teamstack:team": "evt" };
    expect((await api(get(memberClaims), {} as never)).statusCode).toBe(403);
  });
});

describe("the Step Functions adapters", () => {
  it("treats a token that is settled already as delivered", async () => {
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error("gone"), { name: "TaskTimedOut" }));
    await expect(createSfnTaskTokens(new SFNClient({})).sendSuccess("t", {})).resolves.toBeUndefined();
  });

  it("passes on any other error", async () => {
    sfn
      .on(SendTaskFailureCommand)
      .rejects(Object.assign(new Error("throttled"), { name: "ThrottlingException" }));
    await expect(createSfnTaskTokens(new SFNClient({})).sendFailure("t", "E", "c")).rejects.toThrow(
      "throttled",
    );
  });

  it("cuts a failure's error and cause to what Step Functions accepts", async () => {
    await createSfnTaskTokens(new SFNClient({})).sendFailure("t", "E".repeat(300), "c".repeat(40_000));
    const input = sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(input?.error).toHaveLength(256);
    expect(input?.cause).toHaveLength(32_768);
  });

  it("tells a running lock holder from a finished or unknown one", async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ status: "SUCCEEDED" })
      .on(DescribeExecutionCommand, { executionArn: "arn:running" })
      .resolves({ status: "RUNNING" })
      .on(DescribeExecutionCommand, { executionArn: "arn:gone" })
      .rejects(Object.assign(new Error("no"), { name: "ExecutionDoesNotExist" }));
    const executions = createSfnExecutions(new SFNClient({}));
    expect(await executions.isRunning("arn:running")).toBe(true);
    expect(await executions.isRunning("arn:done")).toBe(false);
    expect(await executions.isRunning("arn:gone")).toBe(false);
  });
});

describe("requireEnv", () => {
  it("names a missing variable", () => {
    expect(() => requireEnv("TEAMSTACK_NOPE", {})).toThrow(MissingConfigurationError);
    expect(() => requireEnv("TEAMSTACK_NOPE", {})).toThrow(/TEAMSTACK_NOPE is not set/);
    expect(requireEnv("X", { X: "1" })).toBe("1");
  });
});
