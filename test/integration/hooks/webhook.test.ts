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
          headers: { "X-Env": "staging", Authorization: "Bearer ci-receiver-token", Cookie: "ci=1" },
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
    // teamstack sets no Authorization on a webhook, so the receiver's own credential may be sent.
    expect(req.headers.authorization).toBe("Bearer ci-receiver-token");
    expect(req.headers.cookie).toBe("ci=1");
    expect(req.headers.host).toBe(new URL(server.url).host);
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

  it("masks the secret in an answer that echoes it and bounds the output to 16 KiB", async () => {
    server.answer({ status: 200, body: `echo ${SECRET} ${"x".repeat(200_000)}` });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toContain("echo *** xxx");
    expect(result.output).not.toContain(SECRET);
    expect(MAX_SERVICE_OUTPUT).toBe(16 * 1024);
    expect(result.output?.length).toBe(MAX_SERVICE_OUTPUT);
    expect(result.output).toMatch(/x\n\[output truncated at 16384 characters\]$/);
  });

  it("masks a secret and its base64 form that sit where the stored output is cut", async () => {
    // Masking runs on the whole answer read, before the cut: no prefix of a secret is kept.
    const base64 = Buffer.from(SECRET).toString("base64");
    const pad = "y".repeat(MAX_SERVICE_OUTPUT - 200);
    server.answer({ status: 200, body: `${pad}${SECRET.repeat(20)}${base64.repeat(20)}` });
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("webhook", { url: `${server.url}/in` }, { webhook_secret: SECRET }),
    );
    expect(result.status).toBe("SUCCEEDED");
    const tail = result.output?.slice(result.output.indexOf("yyy*") + 3) ?? "";
    expect(tail).toMatch(/^\*+\n\[output truncated/);
    expect(result.output).not.toContain(SECRET.slice(0, 6));
  });

  it("refuses headers a template may not set, naming each, without sending anything", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest(
        "webhook",
        {
          url: `${server.url}/in`,
          headers: {
            Host: "internal.example",
            "content-type": "text/plain",
            "X-Teamstack-Signature": "sha256=forged",
            "x-teamstack-anything": "1",
            "Transfer-Encoding": "chunked",
            "Content-Length": "0",
            Connection: "close",
            "X-Fine": "yes",
          },
        },
        { webhook_secret: SECRET },
      ),
    );
    expect(server.requests).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      retryable: false,
      message:
        "a webhook request header cannot be sent: `Host` cannot be set by a template: it is always the URL's host; " +
        "`content-type` cannot be set by a template: teamstack sets it on this request; " +
        "`X-Teamstack-Signature` cannot be set by a template: teamstack sets the X-Teamstack-* headers (delivery id, timestamp, signature); " +
        "`x-teamstack-anything` cannot be set by a template: teamstack sets the X-Teamstack-* headers (delivery id, timestamp, signature); " +
        "`Transfer-Encoding` cannot be set by a template: teamstack frames the body itself; " +
        "`Content-Length` cannot be set by a template: teamstack frames the body itself; " +
        "`Connection` cannot be set by a template: it is a hop-by-hop header teamstack manages",
    });
  });

  it("refuses a URL with a user name and password, without sending it", async () => {
    const { runner } = runnerFor(server);
    const url = new URL(server.url);
    const result = await runner.run(hookRequest("webhook", { url: `http://ci:pass-canary@${url.host}/in` }));
    expect(server.requests).toEqual([]);
    expect(result.status).toBe("FAILED");
    expect(result.message).toBe(
      "webhook URL must not carry a user name or password (`user:pass@`); send a credential in a header instead",
    );
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
