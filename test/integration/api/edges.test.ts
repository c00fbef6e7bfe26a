import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKey, signJwt } from "../../../src/api/jwt.ts";
import { MAX_BODY_BYTES } from "../../../src/api/router.ts";
import { signingKeyFile, startLocalApiServer } from "../../../src/local/api-server.ts";
import { ensureLocalStore, stopLocalStore } from "../../../src/local/dynamo.ts";
import type { Store } from "../../../src/ports/store.ts";
import { createTable } from "../../../src/store/table.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";
import { settled, startTestApi, type TestApi } from "./api-server.ts";

// The API's edges, attacked from outside over real HTTP: tokens without a usable expiry, bodies
// with JavaScript's special keys, query strings, HEAD, oversized input, host details in answers,
// a bug and a missing table, and a port that is taken.
let api: TestApi;
let admin: string;
let member: string;
const logs: string[] = [];

const SLOW = "servers:\n  - { name: slow, provider: sim, type: t3.micro, options: { boot_ms: 3000 } }\n";
const FORBIDDEN = ["__proto__", "constructor", "prototype"] as const;

beforeAll(async () => {
  api = await startTestApi({ log: (line) => logs.push(line) });
  admin = await api.token("acme", "root", true);
  member = await api.token("acme", "alice");
});

afterAll(async () => {
  await api?.close();
});

const errorOf = (body: unknown) => body as { error: string; message: string; requestId?: string };

describe("tokens", () => {
  it("refuses a token without exp, or with exp or nbf not a number, and takes a proper one", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ exp: undefined }, "no expiry"],
      [{ exp: "9999999999" }, "expiry (`exp`) is not a number"],
      [{ exp: null }, "expiry (`exp`) is not a number"],
      [{ exp: [9999999999] }, "expiry (`exp`) is not a number"],
      [{ nbf: "0" }, "`nbf` is not a number"],
    ];
    for (const [extra, reason] of cases) {
      const token = await api.token("acme", "root", true, extra);
      const res = await api.call("GET", "/teams/acme/templates", { token });
      expect(res.status, JSON.stringify(extra)).toBe(401);
      expect(errorOf(res.body).message).toContain(reason);
    }
    // Signed by hand, without the helper's defaults: no claim of time at all.
    const bare = signJwt(
      { sub: "root", "teamstack:team": "acme", "teamstack:admin": true },
      await signingKey(signingKeyFile(api.engine.stateDir)),
    );
    expect((await api.call("GET", "/teams/acme/templates", { token: bare })).status).toBe(401);
    expect((await api.call("GET", "/teams/acme/templates", { token: admin })).status).toBe(200);
  });
});

describe("JSON bodies", () => {
  it("refuses __proto__, constructor and prototype keys anywhere in every JSON body with 400, storing nothing", async () => {
    const bodies = (key: string): [string, string, string][] => [
      ["PUT", "/teams/acme/members/alice", `{"${key}":"x"}`],
      ["PUT", "/teams/acme/members/alice", `{"a":"b","${key}":{"admin":true}}`],
      ["POST", "/teams/acme/stacks", `{"member":"alice","yaml":"x","userdata":{"${key}":"x"}}`],
      ["POST", "/teams/acme/stacks", `{"${key}":{"member":"bob"},"member":"alice","yaml":"x"}`],
      ["PUT", "/teams/acme/policy", `{"providers":["sim"],"${key}":["local"]}`],
      ["PUT", "/teams/acme/credentials/default", `{"${key}":{"roleArn":"x"}}`],
      ["POST", "/teams/acme/templates/web/default", `{"${key}":1}`],
      [
        "POST",
        "/events",
        `{"id":"e","source":"teamstack.teams","detail-type":"Team Member Signed Up","detail":{"team":"acme","member":"x","${key}":1}}`,
      ],
      ["POST", "/callbacks/ready/acme/st-1/web/1?sig=x", `{"exitCode":0,"output":"","${key}":1}`],
      ["POST", "/teams/acme/stacks", `{"member":"alice","yaml":"x","simulate":[{"${key}":1}]}`],
    ];
    for (const key of FORBIDDEN) {
      for (const [method, path, body] of bodies(key)) {
        const res = await api.call(method, path, { token: admin, body });
        expect(res.status, `${method} ${path} ${body}`).toBe(400);
        expect(errorOf(res.body).message).toContain(`field \`${key}\` is not allowed`);
      }
    }
    expect(await api.engine.store.getMember("acme", "alice")).toBeUndefined();
    expect(await api.engine.store.getTeamPolicy("acme")).toBeUndefined();
    expect(await api.engine.store.getCredential("acme", "default")).toBeUndefined();
    expect(await api.engine.store.listStacks("acme")).toEqual([]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(({} as Record<string, unknown>).member).toBeUndefined();
  });

  it("bounds every input: nesting, field names, values, counts, numbers, headers and the body's size", async () => {
    const deep = `${'{"a":'.repeat(40)}1${"}".repeat(40)}`;
    const cases: [string, string, string | object, string, Record<string, string>?][] = [
      ["PUT", "/teams/acme/members/alice", deep, "nested deeper than 32 levels"],
      ["PUT", "/teams/acme/members/alice", { ["k".repeat(129)]: "v" }, "longer than 128 characters"],
      ["PUT", "/teams/acme/members/alice", { k: "v".repeat(2049) }, "longer than 2048 characters"],
      [
        "PUT",
        "/teams/acme/members/alice",
        Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, "v"])),
        "more than 100 fields",
      ],
      ["POST", "/teams/acme/stacks", { template: "web", version: 1e12, member: "alice" }, "at most"],
      ["POST", "/teams/acme/templates/web/default", { version: 2 ** 53 }, "at most"],
      [
        "POST",
        "/teams/acme/stacks",
        { template: "web", member: "alice" },
        "Idempotency-Key",
        { "idempotency-key": "k".repeat(256) },
      ],
      [
        "POST",
        "/events",
        {
          id: "e".repeat(257),
          source: "teamstack.teams",
          "detail-type": "Team Member Signed Up",
          detail: { team: "acme", member: "x" },
        },
        "longer than 256",
      ],
      [
        "POST",
        "/events",
        {
          id: "e",
          source: "teamstack.teams",
          "detail-type": "Team Member Signed Up",
          resources: Array.from({ length: 21 }, () => "r"),
          detail: { team: "acme", member: "x" },
        },
        "more than 20 items",
      ],
      ["POST", "/callbacks/ready/acme/st-1/web/1?sig=x", { exitCode: 2 ** 40 }, "at most"],
      ["POST", "/callbacks/ready/acme/st-1/web/1?sig=x", { exitCode: 1, output: "o".repeat(8193) }, "longer"],
    ];
    for (const [method, path, body, message, headers] of cases) {
      const res = await api.call(method, path, { token: admin, body, headers: headers ?? {} });
      expect(res.status, `${method} ${path} ${message}`).toBe(400);
      expect(errorOf(res.body).message).toContain(message);
    }
    const huge = await api.call("PUT", "/teams/acme/members/alice", {
      token: admin,
      body: `{"k":"${"x".repeat(MAX_BODY_BYTES)}"}`,
    });
    expect(huge.status).toBe(413);
    expect(errorOf(huge.body).error).toBe("PayloadTooLarge");
    expect(await api.engine.store.getMember("acme", "alice")).toBeUndefined();
  });

  it("refuses a template with more servers or hooks than a stack may have, with 422, storing nothing", async () => {
    const servers = Array.from(
      { length: 1001 },
      (_, i) => `  - { name: s${i}, provider: sim, type: t3.micro }`,
    );
    const many = `servers:\n${servers.join("\n")}\n`;
    const put = await api.call("PUT", "/teams/acme/templates/many", { token: admin, body: many });
    expect(put.status).toBe(422);
    expect(errorOf(put.body).message).toContain("1001 servers; a stack may have at most 1000");
    const hooks = Array.from({ length: 101 }, () => "  - webhook: { url: 'https://example.com/x' }");
    const hooked = `servers:\n  - { name: a, provider: sim, type: t3.micro }\npost_hooks:\n${hooks.join("\n")}\n`;
    const inline = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { yaml: hooked, member: "root" },
    });
    expect(inline.status, inline.text).toBe(422);
    expect(errorOf(inline.body).message).toContain("101 hooks; a stack may have at most 100");
    expect(await api.engine.store.listTemplates("acme")).toEqual([]);
    expect(await api.engine.store.listStacks("acme")).toEqual([]);
  });

  it("answers a template too large to store with 413, not 500", async () => {
    // Random text does not compress: more than a store item holds, less than a body may carry.
    const big = `servers:\n  - name: a\n    provider: sim\n    type: t3.micro\n    user_data: "${randomBytes(600_000).toString("base64")}"\n`;
    const put = await api.call("PUT", "/teams/acme/templates/big", { token: admin, body: big });
    expect(put.status).toBe(413);
    expect(errorOf(put.body).message).toContain("400 KB");
    const inline = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { yaml: big, member: "root" },
    });
    expect(inline.status).toBe(413);
    expect(await api.engine.store.listTemplates("acme")).toEqual([]);
  });
});

/** A raw HEAD over a socket: the bytes the server sends, to see that no body follows the headers. */
function rawHead(path: string, token?: string): Promise<string> {
  const { hostname, port } = new URL(api.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
    socket.write(
      `HEAD ${path} HTTP/1.1\r\nHost: test\r\n${token ? `Authorization: Bearer ${token}\r\n` : ""}Connection: close\r\n\r\n`,
    );
  });
}

describe("requests", () => {
  it("keeps the query string: a readiness callback reads its ?sig=", async () => {
    const path = "/callbacks/ready/acme/st-1/web/1";
    const unsigned = await api.call("POST", path, { body: { exitCode: 0 } });
    expect(unsigned.status).toBe(403);
    expect(errorOf(unsigned.body).message).toContain("not signed");
    // Signed: the signature reached the handler, which has no readiness callbacks to settle here.
    const signed = await api.call("POST", `${path}?sig=${"ab".repeat(32)}`, { body: { exitCode: 0 } });
    expect(signed.status).toBe(404);
    expect(errorOf(signed.body).message).toContain("readiness callbacks are not enabled");
    expect((await api.call("GET", "/openapi.json?format=json")).status).toBe(200);
  });

  it("answers HEAD as GET, with its status and headers and without a body", async () => {
    const cases: [string, string | undefined][] = [
      ["/openapi.json", undefined],
      ["/teams/acme/templates", admin],
      ["/teams/acme/policy", member],
      ["/teams/acme/stacks/st-nope", admin],
      ["/teams/acme/stacks", undefined],
      ["/teams/acme/stacks/st-1/rerun", admin],
    ];
    for (const [path, token] of cases) {
      const get = await api.call("GET", path, token ? { token } : {});
      const head = await api.call("HEAD", path, token ? { token } : {});
      expect(head.status, path).toBe(get.status);
      expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
      expect(head.headers.get("allow")).toBe(get.headers.get("allow"));
      const raw = await rawHead(path, token);
      expect(raw).toMatch(new RegExp(`^HTTP/1\\.1 ${get.status} `));
      expect(raw.endsWith("\r\n\r\n"), raw).toBe(true);
      expect(raw.split("\r\n\r\n")).toHaveLength(2);
    }
    expect(
      (await api.call("HEAD", "/teams/acme/stacks/st-1/rerun", { token: admin })).headers.get("allow"),
    ).toBe("POST");
  });
});

describe("answers", () => {
  it("show no process id or path of the host, in errors or in a running stack's status", async () => {
    const res = await api.call("POST", "/teams/acme/stacks", {
      token: admin,
      body: { yaml: SLOW, member: "root" },
    });
    const { stackId } = res.body as { stackId: string };
    // Until the run holds the stack's lock (Prepare takes it; the server boots for 3 s after).
    let view = await api.call("GET", `/teams/acme/stacks/${stackId}`, { token: admin });
    for (const until = Date.now() + 30_000; !(view.body as { lock?: unknown }).lock && Date.now() < until; ) {
      view = await api.call("GET", `/teams/acme/stacks/${stackId}`, { token: admin });
    }
    const lock = (view.body as { lock: { execution: string } | null }).lock;
    expect(lock?.execution).toMatch(/^local:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rerun = await api.call("POST", `/teams/acme/stacks/${stackId}/rerun`, { token: admin });
    expect(rerun.status).toBe(409);
    expect(errorOf(rerun.body).message).toMatch(/execution local:[0-9a-f-]{36}\)/);
    for (const text of [view.text, rerun.text]) {
      expect(text).not.toContain(`:${process.pid}:`);
      expect(text).not.toContain(api.engine.stateDir);
    }
    await settled(api, "acme", stackId, admin, 60_000);
  });

  it("answers a bug with 500, 'internal error' and a request id to report, keeping the detail for the log", async () => {
    const { stateDir } = api.engine;
    const detail = `cannot open ${join(stateDir, "api", "signing.key")} (process ${process.pid})`;
    const faulty = new Proxy(api.engine.store, {
      get(target, prop, receiver) {
        if (prop === "getTeamPolicy") return async () => Promise.reject(new TypeError(detail));
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Store;
    const serverLogs: string[] = [];
    const server = await startLocalApiServer({
      engine: { ...api.engine, store: faulty },
      port: 0,
      log: (line) => serverLogs.push(line),
    });
    try {
      const res = await checkedFetch(`${server.url}/teams/acme/policy`, {
        headers: { authorization: `Bearer ${member}` },
      });
      const text = await res.text();
      expect(res.status).toBe(500);
      const body = JSON.parse(text) as { error: string; message: string; requestId: string };
      expect(body.error).toBe("InternalError");
      expect(body.message).toMatch(/^internal error: a bug in teamstack; please report it with request id /);
      expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(body.message).toContain(body.requestId);
      expect(res.headers.get("x-request-id")).toBe(body.requestId);
      expect(text).not.toContain(stateDir);
      expect(text).not.toContain(`process ${process.pid}`);
      expect(serverLogs.join("\n")).toContain(`request ${body.requestId}: TypeError: ${detail}`);
      // Failures that are not bugs never say "internal error".
      const other = await checkedFetch(`${server.url}/teams/acme/stacks/st-nope`, {
        headers: { authorization: `Bearer ${member}` },
      });
      expect(other.status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("answers 503 with a request id, not 'internal error', when the store has lost its table", async () => {
    const { client, tableName } = await ensureLocalStore(api.engine.stateDir);
    await client.send(new DeleteTableCommand({ TableName: tableName }));
    try {
      const res = await api.call("GET", "/teams/acme/templates", { token: member });
      expect(res.status).toBe(503);
      expect(errorOf(res.body).error).toBe("ServiceUnavailable");
      expect(errorOf(res.body).message).not.toContain("internal error");
      expect(errorOf(res.body).message).toContain(errorOf(res.body).requestId);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(logs.join("\n")).toContain(`request ${errorOf(res.body).requestId}: TableNotFoundError`);
    } finally {
      await createTable(client, tableName);
    }
  });
});

describe("teamstack serve", () => {
  it("offers local to members with --allow-local, and says which port is taken and how to pick another", async () => {
    const first = mkdtempSync(join(tmpdir(), "teamstack-port-"));
    const second = mkdtempSync(join(tmpdir(), "teamstack-port-"));
    let serve: ChildProcess | undefined;
    try {
      serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--allow-local", "--state-dir", first], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let banner = "";
      serve.stderr?.on("data", (d: Buffer) => {
        banner += d.toString();
      });
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        serve?.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
          if (m) resolve(m[1] as string);
        });
        serve?.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      expect(banner).toContain("offered to members and team admins (--allow-local)");
      const token = await runCli(["token", "--team", "t", "--member", "m", "--state-dir", first]);
      const policy = await checkedFetch(`${url}/teams/t/policy`, {
        headers: { authorization: `Bearer ${token.stdout.trim()}` },
      });
      expect(((await policy.json()) as { usable: { members: string[] } }).usable.members).toEqual([
        "local",
        "sim",
        "docker",
        "ssh",
      ]);

      const port = new URL(url).port;
      const taken = await runCli(["serve", "--port", port, "--state-dir", second], 60_000);
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain(`port ${port} on 127.0.0.1 is taken by another process`);
      expect(taken.stderr).toContain("--port N (--port 0 picks a free one)");
      expect(taken.stderr).not.toContain("internal error");
    } finally {
      if (serve && serve.exitCode === null) {
        const exited = new Promise((r) => serve?.once("exit", r));
        serve.kill("SIGTERM");
        await exited;
      }
      await stopLocalStore(first);
      await stopLocalStore(second);
      rmSync(first, { recursive: true, force: true });
      rmSync(second, { recursive: true, force: true });
    }
  });
});
