import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookRequest, type RecordingServer, runnerFor, startRecordingServer } from "./recording-server.ts";

const TOKEN = "xoxb-canary-1111-2222-abcdefghijkl";
let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

describe("slack_msg through chat.postMessage", () => {
  it("posts the channel and text as JSON with the bot token", async () => {
    server.answer({ status: 200, body: { ok: true, channel: "C024BE91L", ts: "1503435956.000247" } });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("slack_msg", { channel: "#dev", msg: "ada's stack is ready ✓" }, { slack_token: TOKEN }),
    );

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req?.method).toBe("POST");
    expect(req?.path).toBe("/api/chat.postMessage");
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(req?.body ?? "")).toEqual({ channel: "#dev", text: "ada's stack is ready ✓" });
    expect(result).toEqual({
      status: "SUCCEEDED",
      output: "Slack: posted to #dev (C024BE91L), message ts 1503435956.000247",
    });
  });

  it("fails with Slack's own error when it answers ok: false with HTTP 200, without retrying", async () => {
    server.answer({ status: 200, body: { ok: false, error: "channel_not_found" } });
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(
      hookRequest("slack_msg", { channel: "#nope", msg: "hi" }, { slack_token: TOKEN }),
    );
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      message: "Slack chat.postMessage to #nope failed: channel_not_found",
      retryable: false,
    });
  });

  it("retries `ratelimited` and reports it retryable when it persists", async () => {
    const limited = { status: 200, body: { ok: false, error: "ratelimited" } };
    server.answer(limited, limited, limited);
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(
      hookRequest("slack_msg", { channel: "#dev", msg: "hi" }, { slack_token: TOKEN }),
    );
    expect(server.requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(result).toEqual({
      status: "FAILED",
      message: "Slack chat.postMessage to #dev failed after 3 attempts: ratelimited",
      retryable: true,
    });
  });

  it("posts once `ratelimited` clears", async () => {
    server.answer(
      { status: 200, body: { ok: false, error: "ratelimited" } },
      { status: 200, body: { ok: true, channel: "C1", ts: "1.2" } },
    );
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("slack_msg", { channel: "#dev", msg: "hi" }, { slack_token: TOKEN }),
    );
    expect(server.requests).toHaveLength(2);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("skips, naming the missing slack_token, without calling Slack", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("slack_msg", { channel: "#dev", msg: "hi" }));
    expect(server.requests).toEqual([]);
    expect(result.status).toBe("SKIPPED");
    expect(result.message).toContain("team `acme` has no secret `slack_token`");
    expect(result.message).toContain("`teamstack secrets set --team acme slack_token`");
  });
});

describe("slack_msg through an incoming webhook", () => {
  it("posts the text to the webhook URL without a token", async () => {
    server.answer({ status: 200, body: "ok" });
    const { runner } = runnerFor(server);
    const request = hookRequest("slack_msg", {
      webhook_url: `${server.url}/services/T000/B000/XXXX`,
      msg: "provisioning complete",
    });
    const result = await runner.run(request);

    expect(request.asked).toEqual([]);
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req?.method).toBe("POST");
    expect(req?.path).toBe("/services/T000/B000/XXXX");
    expect(req?.headers.authorization).toBeUndefined();
    expect(req?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(req?.body ?? "")).toEqual({ text: "provisioning complete" });
    expect(result).toEqual({ status: "SUCCEEDED", output: "Slack: posted through the incoming webhook" });
  });

  it("fails with the webhook's error string", async () => {
    server.answer({ status: 404, body: "no_service" });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("slack_msg", { webhook_url: `${server.url}/services/gone`, msg: "hi" }),
    );
    expect(result).toEqual({
      status: "FAILED",
      message: "Slack answered HTTP 404 Not Found: no_service",
      retryable: false,
    });
  });
});
