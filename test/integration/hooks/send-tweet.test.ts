import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  hmacSha1,
  normalizeParameters,
  parseAuthorizationHeader,
  percentEncode,
  signatureBaseString,
  signingKey,
} from "../../../src/hooks/oauth1.ts";
import {
  hookRequest,
  type Recorded,
  type RecordingServer,
  runnerFor,
  startRecordingServer,
} from "./recording-server.ts";

const X = {
  x_consumer_key: "ck-canary-consumer-key",
  x_consumer_secret: "cs-canary/consumer+secret=",
  x_access_token: "123-canary-access-token",
  x_access_token_secret: "ats-canary access&secret",
};
let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

/** Recomputes the signature of a recorded request from its own method, URL and OAuth header. */
function verifySignature(req: Recorded): Record<string, string> {
  const oauth = parseAuthorizationHeader(String(req.headers.authorization));
  const { oauth_signature: signature, ...signed } = oauth;
  const url = `http://${req.headers.host}${req.path}`;
  const base = signatureBaseString(req.method, url, Object.entries(signed));
  // Only the oauth_* parameters: the JSON body is not a parameter source.
  expect(base).toBe(
    `POST&${percentEncode(url)}&${percentEncode(normalizeParameters(Object.entries(signed)))}`,
  );
  expect(signature).toBe(hmacSha1(signingKey(X.x_consumer_secret, X.x_access_token_secret), base));
  return oauth;
}

describe("send_tweet", () => {
  it("posts the text to /2/tweets signed with OAuth 1.0a user context", async () => {
    server.answer({
      status: 201,
      body: { data: { id: "1445880548472328192", text: "provisioning complete" } },
    });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("send_tweet", { msg: "provisioning complete" }, X));

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests as [Recorded];
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/2/tweets");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req.body)).toEqual({ text: "provisioning complete" });
    const oauth = verifySignature(req);
    expect(Object.keys(oauth).sort()).toEqual([
      "oauth_consumer_key",
      "oauth_nonce",
      "oauth_signature",
      "oauth_signature_method",
      "oauth_timestamp",
      "oauth_token",
      "oauth_version",
    ]);
    expect(oauth).toMatchObject({
      oauth_consumer_key: X.x_consumer_key,
      oauth_token: X.x_access_token,
      oauth_signature_method: "HMAC-SHA1",
      oauth_version: "1.0",
    });
    expect(Math.abs(Number(oauth.oauth_timestamp) - Date.now() / 1000)).toBeLessThan(10);
    expect(String(req.headers.authorization)).not.toContain(X.x_consumer_secret);
    expect(String(req.headers.authorization)).not.toContain(percentEncode(X.x_access_token_secret));
    expect(result).toEqual({
      status: "SUCCEEDED",
      output: "X: posted post 1445880548472328192: provisioning complete",
    });
  });

  it("signs every try afresh, so a retry after a 503 never repeats a nonce", async () => {
    server.answer(
      { status: 503, body: { title: "Service Unavailable" } },
      { status: 201, body: { data: { id: "9" } } },
    );
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("send_tweet", { msg: "hello" }, X));
    expect(server.requests).toHaveLength(2);
    const [a, b] = server.requests.map(verifySignature);
    expect(a?.oauth_nonce).not.toBe(b?.oauth_nonce);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("fails with X's title and detail on 403, without retrying", async () => {
    server.answer({
      status: 403,
      body: {
        title: "Forbidden",
        detail: "You are not allowed to create a Tweet with duplicate content.",
        type: "about:blank",
        status: 403,
      },
    });
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("send_tweet", { msg: "hello" }, X));
    expect(server.requests).toHaveLength(1);
    expect(result).toEqual({
      status: "FAILED",
      message:
        "X answered HTTP 403 Forbidden: Forbidden: You are not allowed to create a Tweet with duplicate content.",
      retryable: false,
    });
  });

  it("waits for X's rate-limit reset on 429", async () => {
    const reset = String(Math.floor(Date.now() / 1000) + 9);
    server.answer(
      {
        status: 429,
        headers: { "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset },
        body: { title: "Too Many Requests", detail: "Too Many Requests", status: 429 },
      },
      { status: 201, body: { data: { id: "10" } } },
    );
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(hookRequest("send_tweet", { msg: "hello" }, X));
    expect(result.status).toBe("SUCCEEDED");
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(6_000);
    expect(waits[0]).toBeLessThanOrEqual(9_000);
  });

  it("fails on half an X configuration, naming every missing secret, without calling X", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(
      hookRequest("send_tweet", { msg: "hello" }, { x_consumer_key: X.x_consumer_key }),
    );
    expect(server.requests).toEqual([]);
    expect(result.status).toBe("FAILED");
    expect(result.retryable).toBe(false);
    expect(result.message).toContain(
      "team `acme` has no secret `x_consumer_secret`, `x_access_token`, `x_access_token_secret`",
    );
    expect(result.message).toContain("`teamstack secrets set --team acme x_access_token_secret`");
    expect(result.message).not.toContain(X.x_consumer_key);
  });

  it("refuses a rendered text longer than 280 characters", async () => {
    const { runner } = runnerFor(server);
    const result = await runner.run(hookRequest("send_tweet", { msg: "é".repeat(281) }, X));
    expect(server.requests).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      message: "send_tweet `msg` is 281 characters; X takes at most 280",
      retryable: false,
    });
  });
});
