import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookRequest, type RecordingServer, runnerFor, startRecordingServer } from "./recording-server.ts";

// add_github_user's undo (phase `undo`), as the destroy machine's undo steps run it.
const TOKEN = "ghp_canary0123456789abcdefghijklmnopqrstu";
let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

const params = { org: "koding", team_name: "core team", user: "ada?lovelace", role: "maintainer" };
const undo = (secrets: Record<string, string> = { github_token: TOKEN }) => ({
  ...hookRequest("add_github_user", params, secrets),
  phase: "undo" as const,
});

describe("add_github_user's undo", () => {
  it("deletes the team membership with the token and API headers", async () => {
    server.answer({ status: 204 });
    const { runner } = runnerFor(server);
    const result = await runner.run(undo());
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req?.method).toBe("DELETE");
    expect(req?.path).toBe("/orgs/koding/teams/core%20team/memberships/ada%3Flovelace");
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers.accept).toBe("application/vnd.github+json");
    expect(req?.headers["x-github-api-version"]).toBe("2022-11-28");
    expect(req?.body).toBe("");
    expect(result).toEqual({
      status: "SUCCEEDED",
      output: "GitHub: removed ada?lovelace from koding/core team",
    });
  });

  it("counts GitHub's 404 (no such membership any more) as done", async () => {
    server.answer({ status: 404, body: { message: "Not Found" } });
    const { runner } = runnerFor(server);
    const result = await runner.run(undo());
    expect(server.requests).toHaveLength(1);
    expect(result).toEqual({
      status: "SUCCEEDED",
      output: "GitHub: ada?lovelace is not a member of koding/core team (HTTP 404); nothing to remove",
    });
  });

  it("fails with GitHub's words on a refusal, without retrying", async () => {
    server.answer({ status: 403, body: { message: "Must have admin rights to Repository." } });
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(undo());
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 403 Forbidden: Must have admin rights to Repository.",
      retryable: false,
    });
  });

  it("fails, never skips, when the team has no GitHub token: the membership would stay", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(undo({}));
    expect(server.requests).toHaveLength(0);
    expect(result.status).toBe("FAILED");
    expect(result.message).toContain("team `acme` has no secret `github_token`");
    // Adding, by contrast, is skipped until the team configures GitHub.
    expect((await runner.run(hookRequest("add_github_user", params, {}))).status).toBe("SKIPPED");
  });

  it("has nothing to undo for a hook type without an undo", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run({
      ...hookRequest("slack_msg", { channel: "x", msg: "y" }),
      phase: "undo",
    });
    expect(result).toEqual({ status: "SKIPPED", message: "slack_msg has nothing to undo" });
    expect(server.requests).toHaveLength(0);
  });
});
