import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookRequest, type RecordingServer, runnerFor, startRecordingServer } from "./recording-server.ts";

const TOKEN = "ghp_retry_canary_000000000000000000000000";
const membership = () =>
  hookRequest(
    "add_github_user",
    { org: "koding", team_name: "backend", user: "ada" },
    { github_token: TOKEN },
  );
const ok = { status: 200, body: { role: "member", state: "active" } };

let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

describe("transient failures", () => {
  it("waits the Retry-After seconds of a 429 and succeeds on the next try", async () => {
    server.answer({ status: 429, headers: { "retry-after": "7" }, body: { message: "slow down" } }, ok);
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(2);
    expect(server.requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ["PUT", "/orgs/koding/teams/backend/memberships/ada", '{"role":"member"}'],
      ["PUT", "/orgs/koding/teams/backend/memberships/ada", '{"role":"member"}'],
    ]);
    expect(waits).toEqual([7000]);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("honours a Retry-After given as an HTTP-date", async () => {
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 30_000).toUTCString();
    server.answer({ status: 429, headers: { "retry-after": at } }, ok);
    const { runner, waits } = runnerFor(server);
    await runner.run(membership());
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(27_000);
    expect(waits[0]).toBeLessThanOrEqual(31_000);
  });

  it("caps a Retry-After at 60 s and reports a retryable failure when the 429s persist", async () => {
    const limited = {
      status: 429,
      headers: { "retry-after": "3600" },
      body: { message: "API rate limit exceeded" },
    };
    server.answer(limited, limited, limited);
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(3);
    expect(waits).toEqual([60_000, 60_000]);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 429 Too Many Requests after 3 attempts: API rate limit exceeded",
      retryable: true,
    });
  });

  it("retries a 500 after a jittered backoff and succeeds", async () => {
    server.answer({ status: 500, body: { message: "Server Error" } }, ok);
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThan(1000);
    expect(result).toEqual({
      status: "SUCCEEDED",
      output: "GitHub: ada is a member of koding/backend, membership active",
    });
  });

  it("gives up after three 5xx answers with growing backoff and reports a retryable failure", async () => {
    server.answer(
      { status: 502, body: "<html>bad gateway</html>" },
      { status: 503 },
      { status: 500, body: { message: "Server Error" } },
    );
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeLessThan(1000);
    expect(waits[1]).toBeLessThan(2000);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 500 Internal Server Error after 3 attempts: Server Error",
      retryable: true,
    });
  });

  it("does not retry a 400 and carries the service's message", async () => {
    server.answer({ status: 400, body: { message: "Problems parsing JSON" } });
    const { runner, waits } = runnerFor(server);
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(result).toEqual({
      status: "FAILED",
      message: "GitHub answered HTTP 400 Bad Request: Problems parsing JSON",
      retryable: false,
    });
  });

  it("times out a request that never answers, three times, and reports it retryable", async () => {
    server.answer({ hang: true }, { hang: true }, { hang: true });
    const { runner, waits } = runnerFor(server, { timeoutMs: 150 });
    const started = Date.now();
    const result = await runner.run(membership());
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 150 - 20);
    expect(server.requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(result).toEqual({
      status: "FAILED",
      message: `GitHub did not answer within 0.15 s on 3 attempts (${server.url}/orgs/koding/teams/backend/memberships/ada)`,
      retryable: true,
    });
  });

  it("recovers when the try after a timeout is answered", async () => {
    server.answer({ hang: true }, ok);
    const { runner } = runnerFor(server, { timeoutMs: 150 });
    const result = await runner.run(membership());
    expect(server.requests).toHaveLength(2);
    expect(result.status).toBe("SUCCEEDED");
  });

  it("reports a refused connection as retryable after three tries", async () => {
    const closed = await freePort();
    const { runner, waits } = runnerFor(server, { endpoints: { github: `http://127.0.0.1:${closed}` } });
    const result = await runner.run(membership());
    expect(waits).toHaveLength(2);
    expect(result).toEqual({
      status: "FAILED",
      message: `GitHub could not be reached (ECONNREFUSED) on 3 attempts (http://127.0.0.1:${closed}/orgs/koding/teams/backend/memberships/ada)`,
      retryable: true,
    });
  });
});

/** A port nothing listens on: bound, read, released. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
