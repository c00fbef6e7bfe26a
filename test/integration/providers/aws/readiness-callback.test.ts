import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { callbackSignature } from "../../../../src/adapters/callback-signing.ts";
import { type ApiRequest, handleRequest } from "../../../../src/api/router.ts";
import { StackService } from "../../../../src/api/service.ts";
import type { PipelineDeps } from "../../../../src/pipeline/context.ts";
import { createServer, type ProvisionPlan, prepare, waitUntilReady } from "../../../../src/pipeline/steps.ts";
import type { TaskTokens } from "../../../../src/ports/orchestration.ts";
import type { Provider } from "../../../../src/ports/provider.ts";
import type { Secrets } from "../../../../src/ports/secrets.ts";
import { createAwsProvider } from "../../../../src/providers/aws/aws-provider.ts";
import { CredentialSource } from "../../../../src/providers/aws/credentials.ts";
import { PROVIDERS } from "../../../../src/providers/registry.ts";
import { createDynamoBootstrapLeases } from "../../../../src/store/dynamo/bootstrap-leases.ts";
import { createDynamoStore, type DynamoStore } from "../../../../src/store/dynamo-store.ts";
import { createTable } from "../../../../src/store/table.ts";
import { checkRouterAnswer } from "../../../support/openapi-check.ts";
import {
  CALLBACK_BASE,
  ec2,
  fakeNetwork,
  fakeTime,
  instance,
  ROLE_CREDENTIAL,
  resetMocks,
  SECRET,
} from "../../../unit/providers/aws/support.ts";
import { startDynalite, type TestDynalite } from "../../store/dynalite.ts";

// The readiness of an aws server end to end, at the SDK boundary: Prepare and CreateServer (the
// aws provider on mocked EC2, the real store) launch it with a signed callback URL in its
// UserData; WaitUntilReady parks the task token; the instance's POST to that URL, through the
// API's route table, settles the token once.

const TABLE = "aws-callback";
const PASSWORD = "correct-horse-battery-staple";
const TEMPLATE = `servers:
  - name: web
    provider: aws
    type: 2cpu/4gb-ram
    user_data: |
      echo "connecting with $koding.userdata.db_password"
`;

let db: TestDynalite;
let store: DynamoStore;

beforeAll(async () => {
  db = await startDynalite();
  await createTable(db.client, TABLE);
  store = createDynamoStore({ client: db.client, tableName: TABLE });
  await store.putCredential(ROLE_CREDENTIAL);
});
afterAll(async () => {
  await db?.close();
});
beforeEach(() => {
  resetMocks();
  fakeNetwork();
  ec2.on(RunInstancesCommand).resolves({ Instances: [instance()] });
});

type Sent = ["success", string, Record<string, unknown>] | ["failure", string, string, string];

function recordingTokens(): TaskTokens & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    async sendSuccess(token, output) {
      sent.push(["success", token, output]);
    },
    async sendFailure(token, error, cause) {
      sent.push(["failure", token, error, cause]);
    },
  };
}

const secrets: Secrets = {
  async get(scope, name) {
    return scope.member === "ada" && name === "db_password" ? PASSWORD : undefined;
  },
  async exists() {
    return false;
  },
  async set() {},
  async list() {
    return [];
  },
  async remove() {
    return false;
  },
};

function awsProvider(): Provider {
  const clock = fakeTime();
  return createAwsProvider({
    leases: createDynamoBootstrapLeases({ client: db.client, tableName: TABLE }),
    findCredential: (team, name) => store.getCredential(team, name),
    credentials: new CredentialSource({
      sts: new STSClient({ region: "us-east-1" }),
      secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    }),
    callback: async () => ({ baseUrl: CALLBACK_BASE, secret: SECRET }),
    now: clock.now,
    sleep: clock.sleep,
  });
}

function pipeline(tokens: TaskTokens): PipelineDeps {
  const aws = awsProvider();
  return {
    store,
    provider: (name) => {
      if (name !== "aws") throw new Error(`no ${name} provider here`);
      return aws;
    },
    catalog: PROVIDERS,
    tokens,
    // As in lambdas/shared/deps.ts: an aws instance reports itself.
    readiness: {
      async watch({ provider }) {
        if (provider !== "aws") throw new Error("only aws here");
      },
    },
    executions: { isRunning: async () => false },
    hooks: { run: async () => ({ status: "SUCCEEDED" }) },
    events: { publish: async () => undefined },
    secrets,
    now: () => new Date(),
  };
}

function service(tokens: TaskTokens | undefined, callbackSecret: Uint8Array | null = SECRET) {
  return new StackService({
    store,
    orchestrator: { start: async () => undefined },
    executions: { isRunning: async () => false },
    providers: ["aws"],
    secrets,
    ...(tokens ? { tokens } : {}),
    ...(callbackSecret ? { callbackSecret: async () => callbackSecret } : {}),
    now: () => new Date(),
  });
}

let stacks = 0;
/** A stack whose `web` server has been created (not yet waited for); returns the URL its UserData posts to. */
async function launched(tokens: TaskTokens) {
  const key = { team: "acme", stackId: `st-cb${++stacks}` };
  const now = new Date().toISOString();
  await store.createStack({
    ...key,
    member: "ada",
    status: "RUNNING",
    run: 0,
    templateYaml: TEMPLATE,
    templateFile: "stack.yaml",
    templateHash: "hash-cb",
    userdata: {},
    simulate: [],
    createdAt: now,
    startedAt: now,
  });
  const deps = pipeline(tokens);
  const plan = (await prepare(deps, { ...key, execution: `exec-${key.stackId}` })) as ProvisionPlan;
  const input = { ...key, run: plan.run, server: "web" };
  await createServer(deps, input);
  const calls = ec2.commandCalls(RunInstancesCommand);
  const userData = Buffer.from(calls.at(-1)?.args[0].input.UserData as string, "base64").toString("utf8");
  const url = new URL(/\nurl='([^']+)'\n/.exec(userData)?.[1] as string);
  return { key, deps, input, url, userData };
}

function post(url: URL, body: unknown, headers: Record<string, string> = {}): ApiRequest {
  return {
    method: "POST",
    path: `${url.pathname}${url.search}`,
    headers,
    body: JSON.stringify(body),
    claims: undefined,
  };
}

async function call(svc: StackService, req: ApiRequest) {
  const res = checkRouterAnswer(req, await handleRequest(req, { service: svc, openapi: () => ({}) }));
  return { status: res.status, body: JSON.parse(res.body || "null") as Record<string, unknown> };
}

describe("the readiness callback of aws servers", () => {
  it("settles the WaitUntilReady token once for a valid signature, and answers a replay 410", async () => {
    const tokens = recordingTokens();
    const { deps, input, url, userData, key } = await launched(tokens);
    expect(url.origin).toBe(CALLBACK_BASE);
    expect(url.pathname).toBe(`/callbacks/ready/acme/${key.stackId}/web/1`);
    // The member's secret reached the instance's user_data (rendered at the last moment)...
    expect(userData).toContain(`connecting with ${PASSWORD}`);
    const svc = service(tokens);
    // ...and the callback that comes before the pipeline waits is told to come again.
    expect((await call(svc, post(url, { exitCode: 0 }))).status).toBe(409);
    await waitUntilReady(deps, { ...input, token: "task-token-1" });
    const ok = await call(svc, post(url, { exitCode: 0, output: "done\n" }));
    expect(ok).toEqual({ status: 200, body: { server: "web", ready: true } });
    expect(tokens.sent).toEqual([["success", "task-token-1", { server: "web" }]]);
    const replay = await call(svc, post(url, { exitCode: 0 }));
    expect(replay.status).toBe(410);
    expect(replay.body.message).toMatch(/has been reported already/);
    expect(tokens.sent).toHaveLength(1);
    expect((await store.getServer(key, "web"))?.readyToken).toBeUndefined();
  });

  it("refuses a wrong signature with 403 and settles nothing", async () => {
    const tokens = recordingTokens();
    const { deps, input, url } = await launched(tokens);
    await waitUntilReady(deps, { ...input, token: "task-token-2" });
    const svc = service(tokens);
    const sig = url.searchParams.get("sig") as string;
    const forged = new URL(url);
    forged.searchParams.set("sig", `${sig.slice(0, -1)}${sig.endsWith("0") ? "1" : "0"}`);
    expect((await call(svc, post(forged, { exitCode: 0 }))).status).toBe(403);
    const unsigned = new URL(url);
    unsigned.search = "";
    expect((await call(svc, post(unsigned, { exitCode: 0 }))).status).toBe(403);
    // Signed for another attempt: a signature of its own, but not the server's current attempt.
    const other = new URL(url.toString().replace("/web/1?", "/web/2?"));
    expect((await call(svc, post(other, { exitCode: 0 }))).status).toBe(403);
    const attempt2 = new URL(other);
    attempt2.searchParams.set(
      "sig",
      callbackSignature(SECRET, { team: "acme", stackId: input.stackId, server: "web", attempt: 2 }),
    );
    expect((await call(svc, post(attempt2, { exitCode: 0 }))).status).toBe(410);
    expect(tokens.sent).toEqual([]);
  });

  it("takes the signature from the X-Teamstack-Signature header, and fails the token with masked output for a non-zero exit", async () => {
    const tokens = recordingTokens();
    const { deps, input, url } = await launched(tokens);
    await waitUntilReady(deps, { ...input, token: "task-token-3" });
    const sig = url.searchParams.get("sig") as string;
    const bare = new URL(url);
    bare.search = "";
    const res = await call(
      service(tokens),
      post(
        bare,
        { exitCode: 7, output: `connecting with ${PASSWORD}\nE: refused\n` },
        {
          "x-teamstack-signature": sig,
        },
      ),
    );
    expect(res).toEqual({ status: 200, body: { server: "web", ready: false } });
    expect(tokens.sent).toEqual([
      [
        "failure",
        "task-token-3",
        "UserDataFailedError",
        "user_data failed on web (exit code 7)\nconnecting with ***\nE: refused\n",
      ],
    ]);
    expect((await store.getServer(input, "web"))?.error).toBe("user_data failed on web (exit code 7)");
  });

  it("leaves the output out of the failure where it cannot mask it (no Secrets port)", async () => {
    const tokens = recordingTokens();
    const { deps, input, url } = await launched(tokens);
    await waitUntilReady(deps, { ...input, token: "task-token-4" });
    const bare = new StackService({
      store,
      orchestrator: { start: async () => undefined },
      executions: { isRunning: async () => false },
      providers: ["aws"],
      tokens,
      callbackSecret: SECRET,
      now: () => new Date(),
    });
    expect((await call(bare, post(url, { exitCode: 1, output: PASSWORD }))).status).toBe(200);
    expect(tokens.sent).toEqual([
      ["failure", "task-token-4", "UserDataFailedError", "user_data failed on web (exit code 1)"],
    ]);
  });

  it("answers 404 where callbacks are not enabled, and 400 for a body that is not a report", async () => {
    const tokens = recordingTokens();
    const { url } = await launched(tokens);
    expect((await call(service(undefined), post(url, { exitCode: 0 }))).status).toBe(404);
    expect((await call(service(tokens, null), post(url, { exitCode: 0 }))).status).toBe(404);
    expect((await call(service(tokens), post(url, { exitCode: "0" }))).status).toBe(400);
    expect((await call(service(tokens), post(url, { exitCode: 0, extra: 1 }))).status).toBe(400);
    const unknown = new URL(url.toString().replace("/web/", "/db/"));
    unknown.searchParams.set(
      "sig",
      callbackSignature(SECRET, {
        team: "acme",
        stackId: url.pathname.split("/")[4] as string,
        server: "db",
        attempt: 1,
      }),
    );
    expect((await call(service(tokens), post(unknown, { exitCode: 0 }))).status).toBe(404);
    expect(tokens.sent).toEqual([]);
  });
});
