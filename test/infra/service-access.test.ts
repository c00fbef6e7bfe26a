import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { CreateScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
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
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { API_ACCESS, type ServiceAccess } from "../../infra/constructs/http-api.ts";
import { ROLLOUT_ACCESS } from "../../infra/constructs/rollout.ts";
import { SIGNUP_ACCESS } from "../../infra/constructs/signup.ts";
import {
  CALLBACK_SIGNATURE_HEADER,
  callbackPath,
  callbackSignature,
} from "../../src/adapters/callback-signing.ts";
import { ROUTES } from "../../src/api/routes.ts";
import { createDynamoStore } from "../../src/store/dynamo-store.ts";
import { createTable } from "../../src/store/table.ts";
import { startDynalite, type TestDynalite } from "../integration/store/dynalite.ts";
import { checkLambdaAnswer } from "../support/openapi-check.ts";

// API_ACCESS and SIGNUP_ACCESS are read off the code by hand; this runs the real handlers, wired
// by lambdas/shared as in AWS, against a real DynamoDB API (dynalite) with Step Functions mocked at
// the SDK boundary, records every AWS action they take and compares them with the grants.

const TABLE = "teamstack-service-access";
const PROVISION = "arn:aws:states:us-east-1:123456789012:stateMachine:Teamstack-Provision";
const DESTROY = "arn:aws:states:us-east-1:123456789012:stateMachine:Teamstack-Destroy";
const POWER = "arn:aws:states:us-east-1:123456789012:stateMachine:Teamstack-Power";
const CALLBACK_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:CallbackSecret-AbCdEf";
const CALLBACK_KEY = "k".repeat(64);
const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
const scheduler = mockClient(SchedulerClient);
let db: TestDynalite;
let recording: Set<string> | undefined;
const realSend = DynamoDBClient.prototype.send;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    TABLE_NAME: TABLE,
    PROVISION_STATE_MACHINE_ARN: PROVISION,
    DESTROY_STATE_MACHINE_ARN: DESTROY,
    POWER_STATE_MACHINE_ARN: POWER,
    SCHEDULE_GROUP_NAME: "Teamstack-expiry",
    SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/Teamstack-SchedulerRole",
    CALLBACK_SECRET_ARN,
  });
  scheduler.on(CreateScheduleCommand).callsFake(async () => {
    recording?.add("scheduler:CreateSchedule");
    return { ScheduleArn: "arn:x" };
  });
  vi.spyOn(DynamoDBClient.prototype, "send").mockImplementation(function (
    this: DynamoDBClient,
    ...args: unknown[]
  ) {
    const command = args[0] as { constructor: { name: string }; input: { IndexName?: string } };
    const action = `dynamodb:${command.constructor.name.replace(/Command$/, "")}`;
    recording?.add(command.input.IndexName ? `${action}@${command.input.IndexName}` : action);
    return (realSend as (...a: unknown[]) => unknown).apply(this, args);
  } as never);
  sfn.on(StartExecutionCommand).callsFake(async (input: { stateMachineArn: string }) => {
    recording?.add(
      `states:StartExecution@${input.stateMachineArn === PROVISION ? "provision" : input.stateMachineArn === POWER ? "power" : "destroy"}`,
    );
    return { executionArn: `${input.stateMachineArn}:x`, startDate: new Date() };
  });
  sfn.on(SendTaskSuccessCommand).callsFake(async () => {
    recording?.add("states:SendTaskSuccess");
    return {};
  });
  sfn.on(SendTaskFailureCommand).callsFake(async () => {
    recording?.add("states:SendTaskFailure");
    return {};
  });
  secretsManager.on(GetSecretValueCommand).callsFake(async (input: { SecretId: string }) => {
    recording?.add(
      `secretsmanager:GetSecretValue@${input.SecretId === CALLBACK_SECRET_ARN ? "callback" : input.SecretId.startsWith("teamstack/") ? "teamstack/*" : input.SecretId}`,
    );
    return { SecretString: CALLBACK_KEY };
  });
  // No member secrets: the API and signup only ask whether one is set.
  secretsManager.on(DescribeSecretCommand).callsFake(async () => {
    recording?.add("secretsmanager:DescribeSecret");
    throw Object.assign(new Error("no such secret"), { name: "ResourceNotFoundException" });
  });
  // A lock holder still running: the API must ask, and refuse the rerun.
  sfn.on(DescribeExecutionCommand).callsFake(async () => {
    recording?.add("states:DescribeExecution");
    return { status: "RUNNING" };
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  sfn.restore();
  secretsManager.restore();
  scheduler.restore();
  await db?.close();
});

/** The actions an access declaration grants, in the form recorded above. */
function granted(access: ServiceAccess): string[] {
  return [
    ...access.table.map((a) => `dynamodb:${a}`),
    ...(access.queriesStacksIndex ? ["dynamodb:Query@gsi1"] : []),
    ...access.starts.map((m) => `states:StartExecution@${m}`),
    ...(access.describesExecutions ? ["states:DescribeExecution"] : []),
    ...(access.describesSecrets ? ["secretsmanager:DescribeSecret"] : []),
    ...(access.setsSchedules ? ["scheduler:CreateSchedule"] : []),
    ...(access.settlesReadiness
      ? [
          "secretsmanager:GetSecretValue@callback",
          "secretsmanager:GetSecretValue@teamstack/*",
          "states:SendTaskFailure",
          "states:SendTaskSuccess",
        ]
      : []),
  ].sort();
}

/** Commands sent to Step Functions or Secrets Manager that no fake above answers (none). */
function otherCalls(): string[] {
  const known = new Set([
    "StartExecutionCommand",
    "DescribeExecutionCommand",
    "SendTaskSuccessCommand",
    "SendTaskFailureCommand",
    "GetSecretValueCommand",
    "DescribeSecretCommand",
    "CreateScheduleCommand",
  ]);
  return [...sfn.calls(), ...secretsManager.calls(), ...scheduler.calls()]
    .map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name)
    .filter((n) => !known.has(n));
}

const YAML =
  "servers:\n  - { name: db, provider: sim, type: t3.micro, user_data: 'echo $koding.userdata.github_username' }\n";
// API Gateway's JWT authorizer hands claims over as strings.
const ADMIN = { sub: "root", "teamstack:team": "acme", "teamstack:admin": "true" };

describe("the service functions' grants against their code", () => {
  it("grants lambdas/api exactly what every route of the API calls", async () => {
    const { serveHttpApi } = await import("../../lambdas/api/handler.ts");
    const covered = new Set<string>();
    const call = async (method: string, path: string, route: string, body?: unknown, headers = {}) => {
      const event = {
        rawPath: path,
        headers,
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
        requestContext: { http: { method }, authorizer: { jwt: { claims: ADMIN } } },
      };
      // Every answer checked against the /openapi.json the handler serves.
      const res = checkLambdaAnswer(event, await serveHttpApi(event));
      expect(res.statusCode, `${method} ${path}: ${res.body}`).toBeLessThan(500);
      covered.add(`${method} ${route}`);
      return res;
    };

    recording = new Set();
    await call("PUT", "/teams/acme/templates/web", "/teams/{team}/templates/{name}", YAML);
    await call("GET", "/teams/acme/templates", "/teams/{team}/templates");
    await call("GET", "/teams/acme/templates/web", "/teams/{team}/templates/{name}");
    await call("POST", "/teams/acme/templates/web/default", "/teams/{team}/templates/{name}/default", {});
    await call("PUT", "/teams/acme/credentials/default", "/teams/{team}/credentials/{name}", {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-servers",
      externalId: "0123456789abcdef0123",
      region: "eu-west-1",
    });
    await call("GET", "/teams/acme/policy", "/teams/{team}/policy");
    const policy = await call("PUT", "/teams/acme/policy", "/teams/{team}/policy", {
      providers: ["aws", "sim"],
    });
    expect(JSON.parse(policy.body)).toMatchObject({
      providers: ["aws", "sim"],
      usable: { members: ["aws", "sim"] },
    });
    // A template with a provider the team does not allow: refused before anything is written.
    const local = await call("POST", "/teams/acme/stacks", "/teams/{team}/stacks", {
      yaml: "servers:\n  - { name: box, provider: local, type: sandbox }\n",
      member: "alice",
    });
    expect(local.statusCode).toBe(403);
    await call("PUT", "/teams/acme/members/alice", "/teams/{team}/members/{member}", {
      github_username: "a",
    });
    const created = await call(
      "POST",
      "/teams/acme/stacks",
      "/teams/{team}/stacks",
      { template: "web", member: "alice" },
      { "idempotency-key": "k1" },
    );
    expect(created.statusCode).toBe(202);
    const { stackId } = JSON.parse(created.body) as { stackId: string };
    await call(
      "POST",
      "/teams/acme/stacks",
      "/teams/{team}/stacks",
      { template: "web", member: "alice" },
      {
        "idempotency-key": "k1",
      },
    );
    // A member without the data the template needs: is it a secret? (DescribeSecret, never its value.)
    const missing = await call("POST", "/teams/acme/stacks", "/teams/{team}/stacks", {
      template: "web",
      member: "bob",
    });
    expect(missing.statusCode).toBe(422);
    await call("GET", "/teams/acme/stacks", "/teams/{team}/stacks");
    await call("GET", `/teams/acme/stacks/${stackId}`, "/teams/{team}/stacks/{id}");
    await call("GET", `/teams/acme/stacks/${stackId}/events`, "/teams/{team}/stacks/{id}/events");
    // A second version: the change set, and the update (which records it and starts provision).
    await call(
      "PUT",
      "/teams/acme/templates/web",
      "/teams/{team}/templates/{name}",
      `${YAML}  - { name: cache, provider: sim, type: t3.micro }\n`,
    );
    const changes = await call(
      "GET",
      `/teams/acme/stacks/${stackId}/changes?version=2`,
      "/teams/{team}/stacks/{id}/changes",
    );
    expect(changes.statusCode, changes.body).toBe(200);
    const updated = await call(
      "POST",
      `/teams/acme/stacks/${stackId}/update`,
      "/teams/{team}/stacks/{id}/update",
      { version: 2 },
    );
    expect(updated.statusCode, updated.body).toBe(202);

    // A run holds the stack (as Prepare leaves it): rerun and delete ask whether it still runs.
    const held: Set<string> | undefined = recording;
    recording = undefined;
    await createDynamoStore({ client: db.client, tableName: TABLE }).acquireLock(
      { team: "acme", stackId },
      {
        run: 1,
        execution: `${PROVISION.replace(":stateMachine:", ":execution:")}:run-1`,
        since: "2026-01-01T00:00:00Z",
      },
    );
    recording = held;
    expect(
      (await call("POST", `/teams/acme/stacks/${stackId}/rerun`, "/teams/{team}/stacks/{id}/rerun"))
        .statusCode,
    ).toBe(409);
    sfn.on(DescribeExecutionCommand).callsFake(async () => {
      recording?.add("states:DescribeExecution");
      return { status: "SUCCEEDED" };
    });
    expect(
      (await call("POST", `/teams/acme/stacks/${stackId}/rerun`, "/teams/{team}/stacks/{id}/rerun"))
        .statusCode,
    ).toBe(202);
    // Stop, start and extend a provisioned stack (as Finalize leaves it, with a ttl).
    const paused: Set<string> | undefined = recording;
    recording = undefined;
    const runs = createDynamoStore({ client: db.client, tableName: TABLE });
    await runs.releaseLock(
      { team: "acme", stackId },
      `${PROVISION.replace(":stateMachine:", ":execution:")}:run-1`,
    );
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    await runs.updateStack({ team: "acme", stackId }, { status: "SUCCEEDED", expiresAt });
    await runs.putServer({
      team: "acme",
      stackId,
      name: "db",
      provider: "sim",
      type: "t3.micro",
      run: 1,
      attempt: 1,
      status: "SUCCEEDED",
      deps: [],
      pending: [],
      dependents: [],
      artifacts: { Id: "sim-1", IP: "10.0.0.1" },
    });
    recording = paused;
    expect(
      (await call("POST", `/teams/acme/stacks/${stackId}/stop`, "/teams/{team}/stacks/{id}/stop")).statusCode,
    ).toBe(202);
    // Not stopped yet: a start is refused, saying why.
    expect(
      (await call("POST", `/teams/acme/stacks/${stackId}/start`, "/teams/{team}/stacks/{id}/start"))
        .statusCode,
    ).toBe(409);
    const extended = await call(
      "POST",
      `/teams/acme/stacks/${stackId}/extend`,
      "/teams/{team}/stacks/{id}/extend",
      {
        by: "2h",
      },
    );
    expect(JSON.parse(extended.body).expiresAt).toBe(
      new Date(Date.parse(expiresAt) + 7_200_000).toISOString(),
    );
    // A server's log (none kept yet), a hook's that is not there, and a command run on the server.
    const logs = await call(
      "GET",
      `/teams/acme/stacks/${stackId}/servers/db/logs`,
      "/teams/{team}/stacks/{id}/servers/{server}/logs",
    );
    expect(logs.statusCode, logs.body).toBe(200);
    await call(
      "GET",
      `/teams/acme/stacks/${stackId}/hooks/post.0/logs`,
      "/teams/{team}/stacks/{id}/hooks/{hook}/logs",
    );
    const exec = await call(
      "POST",
      `/teams/acme/stacks/${stackId}/servers/db/exec`,
      "/teams/{team}/stacks/{id}/servers/{server}/exec",
      { command: ["true"] },
    );
    // The server's record is made by hand above: the simulator has no such server, and says so.
    expect(exec.statusCode, exec.body).toBe(409);
    await call("DELETE", `/teams/acme/stacks/${stackId}`, "/teams/{team}/stacks/{id}");
    await call("POST", "/events", "/events", {
      id: "evt-api-1",
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team: "acme", member: "bob" },
    });
    await call("GET", "/openapi.json", "/openapi.json");
    // The console's routes: the team's members, credentials and events are Queries on the team's
    // partition; one-time sign-in is serve's (404 here), and the config has no store behind it.
    await call("GET", "/whoami", "/whoami");
    expect((await call("GET", "/teams/acme/members", "/teams/{team}/members")).statusCode).toBe(200);
    expect((await call("GET", "/teams/acme/credentials", "/teams/{team}/credentials")).statusCode).toBe(200);
    expect((await call("GET", "/teams/acme/events", "/teams/{team}/events")).statusCode).toBe(200);
    expect(
      (await call("POST", "/auth/one-time", "/auth/one-time", { code: "x".repeat(43) })).statusCode,
    ).toBe(404);
    await call("GET", "/console/config.json", "/console/config.json");
    // Only `teamstack serve` streams: the deployed API answers 404 (the console polls), calling nothing.
    expect((await call("GET", "/teams/acme/stream", "/teams/{team}/stream")).statusCode).toBe(404);
    // A rollout with no stack behind ends at once: it releases its template's claim (DeleteItem).
    const rollout = await call(
      "POST",
      "/teams/acme/templates/web/rollout",
      "/teams/{team}/templates/{name}/rollout",
      {
        version: 1,
      },
    );
    expect(JSON.parse(rollout.body)).toMatchObject({ state: "SUCCEEDED", total: 0 });
    const { rolloutId } = JSON.parse(rollout.body) as { rolloutId: string };
    await call("GET", "/teams/acme/rollouts", "/teams/{team}/rollouts");
    await call("GET", `/teams/acme/rollouts/${rolloutId}`, "/teams/{team}/rollouts/{id}");
    await call("GET", "/teams/acme/stacks?outdated=true", "/teams/{team}/stacks");
    // A provider no task function runs (the deployed API offers aws and sim): its credential is
    // refused with 422 before anything is written, so no secret is sent anywhere.
    const elsewhere = await call("PUT", "/teams/acme/credentials/lab", "/teams/{team}/credentials/{name}", {
      provider: "docker",
      endpoint: "tcp://10.0.0.9:2376",
    });
    expect(elsewhere.statusCode).toBe(422);
    expect(JSON.parse(elsewhere.body).message).toContain("does not run on this deployment");
    // A credential removed: its record (an aws role keeps no secret in Secrets Manager).
    await call("PUT", "/teams/acme/credentials/spare", "/teams/{team}/credentials/{name}", {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-spare",
      externalId: "0123456789abcdef0123",
      region: "eu-west-1",
    });
    expect(
      (await call("DELETE", "/teams/acme/credentials/spare", "/teams/{team}/credentials/{name}")).statusCode,
    ).toBe(200);

    // An aws server reports readiness (signed, as its user_data does), then failure on a retry.
    const store = createDynamoStore({ client: db.client, tableName: TABLE });
    const callbackRoute = ROUTES.find((r) => r.path.startsWith("/callbacks/ready/"))?.path as string;
    for (const [server, exitCode] of [
      ["web", 0],
      ["worker", 3],
    ] as const) {
      const paused: Set<string> | undefined = recording;
      recording = undefined;
      await store.putServer({
        team: "acme",
        stackId,
        name: server,
        provider: "aws",
        type: "t3.micro",
        run: 1,
        attempt: 1,
        status: "CREATING",
        deps: [],
        pending: [],
        dependents: [],
        readyToken: `token-${server}`,
        // As Prepare records it: the member, and the secrets the stack's template uses, by name.
        context: { member: "alice", secrets: { userdata: ["github_username"], team: [] } },
      });
      recording = paused;
      const target = { team: "acme", stackId, server, attempt: 1 };
      const res = await call(
        "POST",
        callbackPath(target),
        callbackRoute,
        { exitCode },
        {
          [CALLBACK_SIGNATURE_HEADER]: callbackSignature(Buffer.from(CALLBACK_KEY), target),
        },
      );
      expect(res.statusCode, res.body).toBe(200);
    }

    const untested = ROUTES.map((r) => `${r.method} ${r.path}`).filter((r) => !covered.has(r));
    expect(untested, "routes this test does not call yet").toEqual([]);
    expect([...(recording ?? [])].sort()).toEqual(granted(API_ACCESS));
    expect(otherCalls()).toEqual([]);
    recording = undefined;
  });

  it("grants lambdas/signup exactly what a signup, a member leaving, their redeliveries and a refused event call", async () => {
    const { onSignup, InvalidEventError } = await import("../../lambdas/signup/handler.ts");
    recording = new Set();
    const event = {
      id: "evt-signup-1",
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team: "acme", member: "carol", userdata: { github_username: "carol-gh" } },
    };
    const first = (await onSignup(event)) as { stackId: string };
    expect(await onSignup(event)).toEqual(first);
    await expect(onSignup({ ...event, detail: { team: "acme" } } as never)).rejects.toBeInstanceOf(
      InvalidEventError,
    );
    await expect(
      onSignup({ ...event, id: "evt-2", detail: { team: "nodefault", member: "x" } }),
    ).rejects.toThrow(/no default template/);
    // A member without the data the template needs: is it a secret? (DescribeSecret, never its value.)
    await expect(
      onSignup({ ...event, id: "evt-3", detail: { team: "acme", member: "dan" } }),
    ).rejects.toThrow(/has not given/);
    // Team Member Left: carol's stack gets a destroy, once; erin's is being destroyed by a run
    // that still runs (DescribeExecution), so it is left to that run.
    const store = createDynamoStore({
      client: new DynamoDBClient({ endpoint: db.endpoint }),
      tableName: TABLE,
    });
    const now = new Date().toISOString();
    await store.createStack({
      team: "acme",
      stackId: "st-erin",
      member: "erin",
      status: "DESTROYING",
      run: 2,
      templateYaml: "servers: []",
      templateFile: "t.yaml",
      templateHash: "h",
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
      lock: { run: 2, execution: `${DESTROY}:erin`, since: now },
    });
    const left = {
      ...event,
      id: "evt-left-1",
      "detail-type": "Team Member Left",
      detail: { team: "acme", member: "carol" },
    };
    const gone = await onSignup(left);
    expect(gone).toMatchObject({ member: "carol", stacks: [{ stackId: first.stackId, outcome: "started" }] });
    expect(await onSignup(left)).toMatchObject({ stacks: [{ stackId: first.stackId, outcome: "already" }] });
    sfn.on(DescribeExecutionCommand).callsFake(async () => {
      recording?.add("states:DescribeExecution");
      return { status: "RUNNING" };
    });
    expect(
      await onSignup({ ...left, id: "evt-left-2", detail: { team: "acme", member: "erin" } }),
    ).toMatchObject({ stacks: [{ stackId: "st-erin", outcome: "already" }] });
    // A team whose on_member_left is stop: the member's stack gets a stop (the power machine).
    await store.putTeamPolicy({
      team: "calm",
      providers: ["sim"],
      onMemberLeft: "stop",
      updatedAt: now,
      updatedBy: "root",
    });
    await store.createStack({
      team: "calm",
      stackId: "st-gus",
      member: "gus",
      status: "SUCCEEDED",
      run: 1,
      templateYaml: "servers: []",
      templateFile: "t.yaml",
      templateHash: "h",
      userdata: {},
      simulate: [],
      createdAt: now,
      startedAt: now,
    });
    expect(
      await onSignup({ ...left, id: "evt-left-3", detail: { team: "calm", member: "gus" } }),
    ).toMatchObject({ onMemberLeft: "stop", stacks: [{ stackId: "st-gus", outcome: "started" }] });
    expect([...(recording ?? [])].sort()).toEqual(granted(SIGNUP_ACCESS));
    recording = undefined;
  });

  it("grants lambdas/rollout exactly what advancing a rollout calls: starts, skips, refusals and its end", async () => {
    const eventBridge = mockClient(EventBridgeClient);
    const sent: unknown[] = [];
    eventBridge.on(PutEventsCommand).callsFake(async (input: { Entries: unknown[] }) => {
      recording?.add("events:PutEvents");
      sent.push(...input.Entries);
      return { FailedEntryCount: 0, Entries: [{ EventId: "e" }] };
    });
    process.env.EVENT_BUS_NAME = "teamstack-bus";
    const store = createDynamoStore({ client: db.client, tableName: TABLE });
    const team = "rollers";
    const v1 = "servers:\n  - { name: db, provider: sim, type: t3.micro }\n";
    const v2 = `${v1}  - { name: app, provider: sim, type: t3.micro, user_data: 'echo $koding.userdata.github_username' }\n`;
    for (const yaml of [v1, v2]) {
      await store.putTemplateVersion({
        team,
        name: "web",
        yaml,
        hash: yaml.length.toString(),
        author: "root",
        createdAt: "2030-01-01T00:00:00Z",
      });
    }
    for (const [i, userdata] of [
      { github_username: "a" },
      { github_username: "b" },
      {},
      { github_username: "d" },
    ].entries()) {
      await store.createStack({
        team,
        stackId: `st-r${i}`,
        member: `m${i}`,
        status: "SUCCEEDED",
        run: 1,
        templateYaml: v1,
        templateFile: "web.yaml",
        templateHash: "h",
        userdata,
        simulate: ["aws", "local"],
        createdAt: `2030-01-01T00:00:0${i}.000Z`,
        startedAt: "2030-01-01T00:00:00.000Z",
        template: { name: "web", version: 1 },
      });
    }
    // st-r1 is busy with a run of its own when its wave comes.
    await store.acquireLock(
      { team, stackId: "st-r1" },
      { run: 2, execution: `${PROVISION}:busy`, since: "2030-01-01T00:00:00Z" },
    );
    sfn.on(DescribeExecutionCommand).callsFake(async () => {
      recording?.add("states:DescribeExecution");
      return { status: "RUNNING" };
    });
    const { serveHttpApi } = await import("../../lambdas/api/handler.ts");
    const rollout = {
      rawPath: `/teams/${team}/templates/web/rollout`,
      body: JSON.stringify({ version: 2, canary: 1, batch: 3, max_failed_percent: 100 }),
      requestContext: {
        http: { method: "POST" },
        authorizer: { jwt: { claims: { sub: "root", "teamstack:team": team, "teamstack:admin": "true" } } },
      },
    };
    const started = checkLambdaAnswer(rollout, await serveHttpApi(rollout));
    expect(started.statusCode, started.body).toBe(202);
    const { rolloutId } = JSON.parse(started.body) as { rolloutId: string };

    const { onStackEnded } = await import("../../lambdas/rollout/handler.ts");
    const { buildAwsService } = await import("../../lambdas/shared/service.ts");
    const rollouts = buildAwsService().rollouts;
    const ended = (stackId: string, type: "Stack Provisioned" | "Stack Failed") => ({
      id: `evt-${stackId}`,
      source: "teamstack.stacks",
      "detail-type": type,
      detail: {
        team,
        stackId,
        member: "m",
        run: 2,
        template: { name: "web", version: 2 },
        error: "server app failed",
      },
    });
    recording = new Set();
    // The canary succeeded: the next wave starts st-r3, skips the busy st-r1, fails st-r2 (its
    // member lacks github_username: is it a secret?). Delivered twice, it starts nothing more.
    await onStackEnded(ended("st-r0", "Stack Provisioned"), rollouts);
    await onStackEnded(ended("st-r0", "Stack Provisioned"), rollouts);
    // The last one fails; 1 of 3 attempted is within 100%: the rollout ends, Rollout Finished.
    await onStackEnded(ended("st-r3", "Stack Failed"), rollouts);
    const view = await rollouts.get({ team, member: "root", admin: true }, team, rolloutId);
    expect(view.stacks.map((x) => x.state)).toEqual(["SUCCEEDED", "SKIPPED", "FAILED", "FAILED"]);
    expect(view.state).toBe("SUCCEEDED");
    expect(sent).toEqual([
      expect.objectContaining({ DetailType: "Rollout Finished", EventBusName: "teamstack-bus" }),
    ]);
    const starts = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(starts.filter((n) => n?.startsWith("st-r"))).toEqual(["st-r0-update-2", "st-r3-update-2"]);
    const recorded = [...(recording ?? [])].filter((a) => a !== "events:PutEvents").sort();
    expect(recorded).toEqual(granted(ROLLOUT_ACCESS));
    recording = undefined;
    eventBridge.restore();
    delete process.env.EVENT_BUS_NAME;
  });
});
