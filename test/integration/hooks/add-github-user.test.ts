import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookRequest, type RecordingServer, runnerFor, startRecordingServer } from "./recording-server.ts";

const TOKEN = "ghp_canary0123456789abcdefghijklmnopqrstu";
let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

const params = { org: "koding", team_name: "core team", user: "ada?lovelace", role: "maintainer" };

describe("add_github_user", () => {
  it("puts the team membership with the token and API headers, and records its state", async () => {
    server.answer({
      status: 200,
      body: { url: "https://api.github.com/...", role: "maintainer", state: "pending" },
    });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req?.method).toBe("PUT");
    expect(req?.path).toBe("/orgs/koding/teams/core%20team/memberships/ada%3Flovelace");
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers.accept).toBe("application/vnd.github+json");
    expect(req?.headers["x-github-api-version"]).toBe("2022-11-28");
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers["user-agent"]).toBe("teamstack-hooks");
    expect(JSON.parse(req?.body ?? "")).toEqual({ role: "maintainer" });
    expect(result).toEqual({
      status: "SUCCEEDED",
      output:
        "GitHub: ada?lovelace is a maintainer of koding/core team, membership pending; GitHub has invited them and they must accept",
    });
  });

  it("asks for the member role by default and records an active membership", async () => {
    server.answer({ status: 200, body: { role: "member", state: "active" } });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest(
        "add_github_user",
        { org: "koding", team_name: "backend", user: "ada" },
        { github_token: TOKEN },
      ),
    );
    expect(JSON.parse(server.requests[0]?.body ?? "")).toEqual({ role: "member" });
    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toBe("GitHub: ada is a member of koding/backend, membership active");
  });

  it("fails with GitHub's message on 404 without retrying", async () => {
    server.answer({
      status: 404,
      body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" },
    });
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 404 Not Found: Not Found",
      retryable: false,
    });
  });

  it("carries the errors GitHub lists with a 422", async () => {
    server.answer({
      status: 422,
      body: {
        message: "Validation Failed",
        errors: [
          { resource: "TeamMembership", field: "role", code: "invalid" },
          { message: "user is blocked" },
        ],
      },
    });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));
    expect(result.message).toBe(
      "GitHub answered HTTP 422 Unprocessable Entity: Validation Failed (TeamMembership role invalid; user is blocked)",
    );
    expect(result.retryable).toBe(false);
  });

  it("skips, naming the missing github_token and how to set it, without calling GitHub", async () => {
    const { runner } = runnerFor(server);
    const request = hookRequest("add_github_user", params, {});
    const result = await runner.run(request);
    expect(server.requests).toEqual([]);
    expect(request.asked).toEqual(["github_token"]);
    expect(result).toEqual({
      status: "SKIPPED",
      message:
        "team `acme` has no secret `github_token`, which add_github_user uses to call the GitHub API; set it with `teamstack secrets set --team acme github_token` (the value is read from stdin)",
    });
  });

  it("retries a 403 that says the rate limit is used up, waiting for its reset", async () => {
    const reset = String(Math.floor(Date.now() / 1000) + 20);
    server.answer(
      {
        status: 403,
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
        body: { message: "API rate limit exceeded" },
      },
      { status: 200, body: { role: "maintainer", state: "active" } },
    );
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));
    expect(server.requests).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(17_000);
    expect(waits[0]).toBeLessThanOrEqual(20_000);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("does not retry a 403 that is a refusal", async () => {
    server.answer({
      status: 403,
      headers: { "x-ratelimit-remaining": "4999" },
      body: { message: "Resource not accessible by personal access token" },
    });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));
    expect(server.requests).toHaveLength(1);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 403 Forbidden: Resource not accessible by personal access token",
      retryable: false,
    });
  });

  it("masks the token wherever GitHub echoes it", async () => {
    server.answer({ status: 401, body: { message: `Bad credentials: ${TOKEN}` } });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("add_github_user", params, { github_token: TOKEN }));
    expect(result.message).toBe("GitHub answered HTTP 401 Unauthorized: Bad credentials: ***");
    expect(JSON.stringify(result)).not.toContain(TOKEN);
  });

  it.each([
    [
      { org: "../../user/repos?x=", team_name: "t", user: "ada" },
      "/orgs/..%2F..%2Fuser%2Frepos%3Fx%3D/teams/t/memberships/ada",
    ],
    [
      { org: "koding", team_name: "%2e%2e", user: "%2E%2E%2fadmin" },
      "/orgs/koding/teams/%252e%252e/memberships/%252E%252E%252fadmin",
    ],
    [
      { org: "koding", team_name: "a#b", user: "x\\..\\y" },
      "/orgs/koding/teams/a%23b/memberships/x%5C..%5Cy",
    ],
  ])("keeps each template value inside its own path segment: %j", async (values, path) => {
    server.answer({ status: 200, body: { role: "member", state: "active" } });
    const { runner } = runnerFor(server);
    await runner.run(hookRequest("add_github_user", values, { github_token: TOKEN }));
    expect(server.requests.map((r) => r.path)).toEqual([path]);
  });

  it.each([
    ["org", ".."],
    ["team_name", "."],
    ["user", ".."],
  ])("refuses `%s` set to `%s`, which would walk to another API path with the token", async (name, value) => {
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest(
        "add_github_user",
        { org: "koding", team_name: "backend", user: "ada", [name]: value },
        { github_token: TOKEN },
      ),
    );
    expect(server.requests).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      retryable: false,
      message: `add_github_user \`${name}\` is \`${value}\`, which is not a name: it would change the API path`,
    });
  });
});
