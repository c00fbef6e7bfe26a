/**
 * An example of each route's request body (when it takes one) and success answer, published in
 * /openapi.json beside the schemas. They describe the README's example stack (mysql and php on
 * aws, devrim on local) of member octocat in team acme. A unit test checks that every route has
 * one and that each fits its route's schemas (test/unit/api/openapi-examples.test.ts).
 */

export interface RouteExample {
  readonly request?: unknown;
  readonly response: unknown;
}

const HASH_V1 = "9f2c41e07b6d3a58c1e4f0b2d7a96c3e5b8014f6a2d9c7e3b1f05a4c8d6e2b79";
const HASH_V2 = "4b7e1d09c3a25f8e6d10b4c7a9e2f53d8c6b1a0e7f4d92c5b3a8e16f0d7c4a21";
const STACK = "st-5e0c8a91f2b74d36";
const ROLLOUT = "ro-3d9a6c1e0b7f4285";

const started = (action: string) => ({ stackId: STACK, executionName: `${STACK}-${action}` });

const CHANGES = {
  from: { name: "team-stack", version: 1, hash: HASH_V1 },
  to: { name: "team-stack", version: 2, hash: HASH_V2 },
  servers: [
    { name: "mysql", action: "keep", reasons: [] },
    { name: "php", action: "replace", reasons: ["user_data changed"] },
    { name: "devrim", action: "keep", reasons: [] },
  ],
  hooks: [
    { phase: "pre", index: 0, type: "add_github_user", action: "skip" },
    { phase: "post", index: 0, type: "add_github_user", action: "skip" },
    { phase: "post", index: 1, type: "run_script", action: "run" },
  ],
};

const POLICY = {
  team: "acme",
  providers: ["aws", "local"],
  default: false,
  onMemberLeft: "stop",
  updatedAt: "2026-03-02T09:15:00.000Z",
  updatedBy: "alice",
  offered: ["local", "sim"],
  usable: { admins: ["local"], members: [] },
};

const ROLLOUT_VIEW = {
  rolloutId: ROLLOUT,
  template: "team-stack",
  version: 2,
  canary: 1,
  batch: 5,
  max_failed_percent: 0,
  state: "RUNNING",
  total: 2,
  createdBy: "alice",
  createdAt: "2026-03-02T10:00:00.000Z",
  counts: { PENDING: 1, UPDATING: 1, SUCCEEDED: 0, FAILED: 0, SKIPPED: 0 },
  stacks: [
    {
      stackId: STACK,
      member: "octocat",
      wave: 0,
      canary: true,
      fromVersion: 1,
      state: "UPDATING",
      execution: `${STACK}-update-3`,
      startedAt: "2026-03-02T10:00:01.204Z",
    },
    {
      stackId: "st-a17b3e5d9c2f6084",
      member: "hubot",
      wave: 1,
      canary: false,
      fromVersion: 1,
      state: "PENDING",
    },
  ],
};

const TEMPLATE_YAML = `servers:
  - name: mysql
    provider: aws
    type: t2.micro
    user_data: |
      apt-get install -y docker.io
  - name: devrim
    provider: local
    type: 4gb-ram/40gb-disk
    user_data: |
      echo $servers.mysql.IP >> /etc/config
`;

/** Keyed by `METHOD /path` as routes.ts declares the route. */
export const ROUTE_EXAMPLES: Readonly<Record<string, RouteExample>> = {
  "GET /openapi.json": {
    response: { openapi: "3.1.0", info: { title: "teamstack", version: "0.1.0" }, paths: {} },
  },
  "PUT /teams/{team}/templates/{name}": {
    request: TEMPLATE_YAML,
    response: { name: "team-stack", version: 2, hash: HASH_V2 },
  },
  "GET /teams/{team}/templates": {
    response: [
      {
        name: "team-stack",
        latest: 2,
        hash: HASH_V2,
        updatedAt: "2026-03-02T09:58:12.000Z",
        default: true,
        defaultVersion: 1,
      },
      { name: "scratch", latest: 1, hash: HASH_V1, updatedAt: "2026-02-20T16:40:00.000Z", default: false },
    ],
  },
  "GET /teams/{team}/templates/{name}": {
    response: {
      name: "team-stack",
      defaultVersion: 1,
      versions: [
        { version: 1, hash: HASH_V1, author: "alice", createdAt: "2026-02-27T14:03:55.000Z" },
        { version: 2, hash: HASH_V2, author: "alice", createdAt: "2026-03-02T09:58:12.000Z" },
      ],
    },
  },
  "POST /teams/{team}/templates/{name}/default": {
    request: { version: 2 },
    response: { name: "team-stack", version: 2 },
  },
  "PUT /teams/{team}/credentials/{name}": {
    request: {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-acme",
      externalId: "acme-7f3e9b2c41d05a68",
      region: "eu-west-1",
    },
    response: {
      name: "default",
      provider: "aws",
      fields: ["roleArn", "externalId", "region"],
      values: { roleArn: "arn:aws:iam::123456789012:role/teamstack-acme", region: "eu-west-1" },
      secretFields: ["externalId"],
      updatedAt: "2026-02-27T16:40:00.000Z",
      kind: "role",
      roleArn: "arn:aws:iam::123456789012:role/teamstack-acme",
      region: "eu-west-1",
    },
  },
  "DELETE /teams/{team}/credentials/{name}": {
    response: { name: "default", removed: true },
  },
  "GET /teams/{team}/policy": { response: POLICY },
  "PUT /teams/{team}/policy": {
    request: { providers: ["aws", "local"], on_member_left: "stop" },
    response: POLICY,
  },
  "PUT /teams/{team}/members/{member}": {
    request: { github_username: "octocat" },
    response: { member: "octocat", data: { github_username: "octocat" } },
  },
  "POST /teams/{team}/stacks": {
    request: { template: "team-stack", member: "octocat", simulate: ["aws"] },
    response: started("create"),
  },
  "GET /teams/{team}/stacks": {
    response: [
      {
        stackId: STACK,
        name: "team-stack",
        member: "octocat",
        status: "SUCCEEDED",
        template: "team-stack",
        version: 1,
        startedAt: "2026-03-01T08:30:00.000Z",
      },
    ],
  },
  "GET /teams/{team}/stacks/{id}": {
    response: {
      stackId: STACK,
      name: "team-stack",
      team: "acme",
      member: "octocat",
      template: { name: "team-stack", version: 1, hash: HASH_V1 },
      status: "RUNNING",
      run: 1,
      servers: [
        {
          name: "mysql",
          status: "SUCCEEDED",
          provider: "aws",
          type: "t2.micro",
          dependsOn: [],
          artifacts: { IP: "10.0.1.17", instanceId: "i-0a1b2c3d4e5f67890" },
          startedAt: "2026-03-01T08:30:01.120Z",
          readyAt: "2026-03-01T08:30:41.870Z",
          error: null,
          change: null,
        },
        {
          name: "php",
          status: "CREATING",
          provider: "aws",
          type: "m2.xlarge",
          dependsOn: ["mysql"],
          artifacts: {},
          startedAt: "2026-03-01T08:30:42.010Z",
          readyAt: null,
          error: null,
          change: null,
        },
        {
          name: "devrim",
          status: "WAITING",
          provider: "local",
          type: "4gb-ram/40gb-disk",
          dependsOn: ["mysql"],
          artifacts: {},
          startedAt: null,
          readyAt: null,
          error: null,
          change: null,
        },
      ],
      hooks: [
        {
          phase: "pre",
          index: 0,
          type: "add_github_user",
          status: "SUCCEEDED",
          output: "octocat added to koding/backend",
          exitCode: null,
          error: null,
        },
        {
          phase: "post",
          index: 0,
          type: "run_script",
          status: "PENDING",
          output: null,
          exitCode: null,
          error: null,
        },
      ],
      artifacts: { mysql: { IP: "10.0.1.17", instanceId: "i-0a1b2c3d4e5f67890" } },
      lock: { run: 1, execution: `${STACK}-create`, since: "2026-03-01T08:30:00.412Z" },
      startedAt: "2026-03-01T08:30:00.000Z",
      finishedAt: null,
      error: null,
      expiresAt: "2026-03-08T08:30:00.000Z",
      updateAvailable: true,
    },
  },
  "POST /teams/{team}/stacks/{id}/rerun": { response: started("run-2") },
  "GET /teams/{team}/stacks/{id}/changes": { response: CHANGES },
  "POST /teams/{team}/stacks/{id}/update": {
    request: { version: 2 },
    response: { ...started("update-3"), changes: CHANGES },
  },
  "DELETE /teams/{team}/stacks/{id}": { response: started("destroy-4") },
  "POST /teams/{team}/stacks/{id}/stop": { response: started("stop-2") },
  "POST /teams/{team}/stacks/{id}/start": { response: started("start-3") },
  "POST /teams/{team}/stacks/{id}/extend": {
    request: { by: "2h" },
    response: { stackId: STACK, expiresAt: "2026-03-08T10:30:00.000Z" },
  },
  "GET /teams/{team}/stacks/{id}/events": {
    response: [
      { seq: 1, at: "2026-03-01T08:30:00.412Z", type: "RunStarted", message: "run 1 started" },
      {
        seq: 2,
        at: "2026-03-01T08:30:41.870Z",
        type: "ServerReady",
        server: "mysql",
        message: "mysql is ready (10.0.1.17)",
      },
    ],
  },
  "POST /teams/{team}/templates/{name}/rollout": {
    request: { version: 2, canary: 1, batch: 5 },
    response: ROLLOUT_VIEW,
  },
  "GET /teams/{team}/rollouts": {
    response: [
      {
        rolloutId: ROLLOUT,
        template: "team-stack",
        version: 2,
        canary: 1,
        batch: 5,
        max_failed_percent: 0,
        state: "SUCCEEDED",
        total: 2,
        createdBy: "alice",
        createdAt: "2026-03-02T10:00:00.000Z",
        finishedAt: "2026-03-02T10:04:37.000Z",
        reason: "2 succeeded",
      },
    ],
  },
  "GET /teams/{team}/rollouts/{id}": { response: ROLLOUT_VIEW },
  "POST /events": {
    request: {
      id: "5f1d0c2e-8a47-4b3c-9e61-2d7a0f9b4c18",
      source: "teamstack.teams",
      "detail-type": "Team Member Signed Up",
      detail: { team: "acme", member: "octocat", userdata: { github_username: "octocat" } },
    },
    response: started("create"),
  },
  "POST /callbacks/ready/{team}/{stackId}/{server}/{attempt}": {
    request: { exitCode: 0, output: "docker.io is already the newest version" },
    response: { server: "mysql", ready: true },
  },
  "GET /teams/{team}/stacks/{id}/servers/{server}/logs": {
    response: {
      server: "mysql",
      attempt: 1,
      attempts: 1,
      offset: 0,
      next: 112,
      text: "Reading package lists...\nSetting up mysql-server (8.0.36-2) ...\nmysql: listening on 0.0.0.0:3306\n",
      complete: true,
      truncated: false,
      limitBytes: 1048576,
      kind: "user_data",
      exitCode: 0,
    },
  },
  "GET /teams/{team}/stacks/{id}/hooks/{hook}/logs": {
    response: {
      hook: "post:1",
      attempt: 1,
      attempts: 1,
      offset: 0,
      next: 25,
      text: "migrations: 14 applied\n",
      complete: true,
      truncated: false,
      limitBytes: 1048576,
      kind: "hook",
      exitCode: 0,
    },
  },
  "POST /teams/{team}/stacks/{id}/servers/{server}/exec": {
    request: { command: ["cat", "/etc/mysql/conf.d/teamstack.cnf"], timeoutSeconds: 30 },
    response: { exitCode: 0, output: "[mysqld]\nbind-address = 0.0.0.0\n", truncated: false },
  },
  "GET /whoami": { response: { team: "acme", member: "octocat", admin: false } },
  "GET /teams/{team}/members": {
    response: {
      members: [
        {
          member: "octocat",
          data: { github_username: "octocat" },
          updatedAt: "2026-03-01T08:29:58.000Z",
          left: false,
        },
      ],
    },
  },
  "GET /teams/{team}/credentials": {
    response: {
      credentials: [
        {
          name: "aws-dev",
          provider: "aws",
          fields: ["roleArn", "externalId", "region"],
          secretFields: ["externalId"],
          updatedAt: "2026-02-27T16:40:00.000Z",
        },
      ],
    },
  },
  "GET /teams/{team}/events": {
    response: {
      events: [
        {
          id: "b8e3a1f0-2c4d-4e6f-9a1b-3c5d7e9f0a2b",
          type: "Stack Provisioned",
          at: "2026-03-01T08:31:02.000Z",
          detail: { team: "acme", stackId: STACK, member: "octocat", template: "team-stack", version: 1 },
        },
      ],
    },
  },
  "GET /teams/{team}/stream": {
    response: `: connected\n\nevent: stack\ndata: {"stackId":"${STACK}","member":"octocat","type":"ServerReady","seq":2,"at":"2026-03-01T08:30:41.870Z"}\n\n: keepalive\n\n`,
  },
  "POST /auth/one-time": {
    request: { code: "Qm9vdHN0cmFwLWNvZGUtZXhhbXBsZQ" },
    response: {
      token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJvY3RvY2F0In0.c2lnbmF0dXJl",
      team: "acme",
      member: "octocat",
      admin: false,
      expiresAt: "2026-03-01T20:29:58.000Z",
    },
  },
  "GET /console/config.json": {
    response: { apiBase: "", stream: true, signIn: { token: true, oneTime: true, oidc: null } },
  },
};
