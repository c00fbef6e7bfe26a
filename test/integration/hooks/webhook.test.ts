import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_SERVICE_OUTPUT } from "../../../src/hooks/runner.ts";
import {
  hookRequest,
  type Recorded,
  type RecordingServer,
  runnerFor,
  startRecordingServer,
} from "./recording-server.ts";

const SECRET = "whsec_canary_5f1e0c9a7b";
let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

/** What a receiver does: HMAC-SHA256 of `timestamp.body` with the shared secret, hex. */
function expectSigned(req: Recorded, secret: string): void {
  const timestamp = String(req.headers["x-teamstack-timestamp"]);
  expect(timestamp).toMatch(/^\d+$/);
  expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(10);
  const expected = createHmac("sha256", secret).update(`${timestamp}.${req.body}`).digest("hex");
  expect(req.headers["x-teamstack-signature"]).toBe(`sha256=${expected}`);
}

describe("webhook", () => {
  it("posts the default event body signed with webhook_secret, with the extra headers", async () => {
    server.answer({ status: 202, body: { received: true } });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest(
        "webhook",
        {
          url: `${server.url}/hooks/teamstack?token=query-canary`,
          headers: { "X-Env": "staging", "content-type": "text/plain", "X-Teamstack-Signature": "forged" },
        },
        { webhook_secret: SECRET },
      ),
    );

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests as [Recorded];
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/hooks/teamstack?token=query-canary");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["x-env"]).toBe("staging");
    expect(req.headers["x-teamstack-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(req.body)).toEqual({
      event: "teamstack.hook",
      team: "acme",
      stackId: "stack-7",
      member: "ada",
      phase: "post",
      index: 2,
    });
    expectSigned(req, SECRET);
    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toBe(
      `webhook: POST ${server.url}/hooks/teamstack answered HTTP 202 (delivery ${req.headers["x-teamstack-delivery"]})\n{"received":true}`,
    );
  });

  it("posts the given body signed with the secret the hook names", async () => {
    server.answer({ status: 200 });
    const { runner } = runnerFor(server);
    const body = { member: "ada", db: "10.0.0.5", nested: { list: [1, "two"] } };
    const request = hookRequest(
      "webhook",
      { url: `${server.url}/ci`, body, secret: "ci_hook_key" },
      { ci_hook_key: SECRET, webhook_secret: "not-this-one" },
    );
    const result = await runner.run(request);
    const [req] = server.requests as [Recorded];
    expect(request.asked).toEqual(["ci_hook_key"]);
    expect(req.body).toBe(JSON.stringify(body));
    expectSigned(req, SECRET);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("posts unsigned without webhook_secret and says so in the output", async () => {
    server.answer({ status: 204 });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("webhook", { url: `${server.url}/in` }));
    const [req] = server.requests as [Recorded];
    expect(req.headers["x-teamstack-signature"]).toBeUndefined();
    expect(req.headers["x-teamstack-timestamp"]).toMatch(/^\d+$/);
    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toContain(
      "unsigned: team `acme` has no secret `webhook_secret`; set it with `teamstack secrets set --team acme webhook_secret` to sign deliveries",
    );
  });

  it("fails when the secret the hook names is not set, without posting", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in`, secret: "ci_hook_key" }),
    );
    expect(server.requests).toEqual([]);
    expect(result.status).toBe("FAILED");
    expect(result.retryable).toBe(false);
    expect(result.message).toContain("team `acme` has no secret `ci_hook_key`");
  });

  it("keeps the delivery id across tries and signs each try with its own timestamp", async () => {
    server.answer({ status: 502, body: "bad gateway" }, { status: 200 });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(server.requests).toHaveLength(2);
    const [a, b] = server.requests as [Recorded, Recorded];
    expect(a.headers["x-teamstack-delivery"]).toBe(b.headers["x-teamstack-delivery"]);
    expectSigned(a, SECRET);
    expectSigned(b, SECRET);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("fails with the receiver's message on 4xx, without retrying", async () => {
    server.answer({ status: 401, body: { error: "signature mismatch" } });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(server.requests).toHaveLength(1);
    expect(result).toEqual({
      status: "FAILED",
      message: "webhook answered HTTP 401 Unauthorized: signature mismatch",
      retryable: false,
    });
  });

  it("does not follow a redirect, which would resend the body and headers elsewhere", async () => {
    server.answer({ status: 302, headers: { location: "/elsewhere?k=v" } });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(server.requests).toHaveLength(1);
    expect(result).toEqual({
      status: "FAILED",
      message: `webhook answered HTTP 302 Found (redirects are not followed; it points to ${server.url}/elsewhere)`,
      retryable: false,
    });
  });

  it("masks the secret in an answer that echoes it and bounds the output to 64 KB", async () => {
    server.answer({ status: 200, body: `echo ${SECRET} ${"x".repeat(200_000)}` });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toContain("echo *** xxx");
    expect(result.output).not.toContain(SECRET);
    expect(result.output?.length).toBeLessThanOrEqual(MAX_SERVICE_OUTPUT);
  });

  it("fails before sending when a header cannot be sent, without repeating its value", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", {
        url: `${server.url}/in`,
        headers: { Authorization: "Bearer line\nbreak-canary" },
      }),
    );
    expect(server.requests).toEqual([]);
    expect(result.status).toBe("FAILED");
    expect(result.retryable).toBe(false);
    expect(result.message).toBe(
      "a webhook request header cannot be sent: the value of `Authorization` is not a valid header value (a line break or a non-Latin-1 character?)",
    );
    expect(result.message).not.toContain("break-canary");
  });
});
