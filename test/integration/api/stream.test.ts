import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../../../src/api/openapi.ts";
import { createStreamHub } from "../../../src/local/stream.ts";
import { checkedFetch } from "../../support/openapi-check.ts";
import { settled, startTestApi, type TestApi } from "./api-server.ts";

// GET /teams/{team}/stream on a real `teamstack serve` over HTTP on 127.0.0.1: what a stack run
// and a rollout send, to whom, and what a closed connection leaves behind.

interface Message {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** A stream read as the console reads it: fetch with the bearer token and a body reader. */
interface Stream {
  readonly status: number;
  readonly messages: Message[];
  readonly comments: string[];
  /** Resolves with the first message (past or future) that `match` accepts. */
  next(match: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  /** Resolves once a comment `text` has arrived. */
  comment(text: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

async function openStream(url: string, token?: string): Promise<Stream> {
  const abort = new AbortController();
  // Checked against /openapi.json: its route, status and content type (the stream is not read).
  const res = await checkedFetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  });
  const messages: Message[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const stream: Stream = {
    status: res.status,
    messages,
    comments,
    next(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        const check = () => {
          const found = messages.find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      });
    },
    async comment(text, timeoutMs) {
      await stream.next((m) => m.event === "comment" && m.data.text === text, timeoutMs);
    },
    close: () => abort.abort(),
  };
  if (res.status !== 200 || !res.body) {
    await res.text();
    return stream;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith(": ")) {
              comments.push(line.slice(2));
              // Kept as a message too, so that a test can wait for it like for an event.
              messages.push({ event: "comment", data: { text: line.slice(2) } });
            } else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data !== "") messages.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          wake();
        }
      }
    } catch {
      // aborted
    }
  })();
  return stream;
}

const SIM = "servers:\n  - { name: db, provider: sim, type: t3.micro, options: { boot_ms: 20 } }\n";

let api: TestApi;
let admin: string;
let alice: string;
let bob: string;
let eve: string;
const streamUrl = () => `${api.url}/teams/acme/stream`;

beforeAll(async () => {
  api = await startTestApi();
  admin = await api.token("acme", "root", true);
  alice = await api.token("acme", "alice");
  bob = await api.token("acme", "bob");
  eve = await api.token("other", "eve", true);
});

afterAll(async () => {
  await api?.close();
});

describe("GET /teams/{team}/stream", () => {
  it("sends a member their own stack's events, an admin every stack's, and another member none of them", async () => {
    const toAlice = await openStream(streamUrl(), alice);
    const toBob = await openStream(streamUrl(), bob);
    const toAdmin = await openStream(streamUrl(), admin);
    for (const s of [toAlice, toBob, toAdmin]) {
      expect(s.status).toBe(200);
      await s.comment("connected");
    }
    const created = await api.call("POST", "/teams/acme/stacks", {
      token: alice,
      body: { member: "alice", yaml: SIM },
    });
    expect(created.status).toBe(202);
    const { stackId } = created.body as { stackId: string };
    const done = (m: Message) =>
      m.event === "stack" && m.data.stackId === stackId && m.data.type === "StackProvisioned";
    const last = await toAlice.next(done);
    expect(last.data).toEqual({
      stackId,
      member: "alice",
      type: "StackProvisioned",
      seq: expect.any(Number),
      at: expect.any(String),
    });
    await toAdmin.next(done);
    // Every event of the run arrived, in the order recorded, as GET .../events lists them.
    const events = (await api.call("GET", `/teams/acme/stacks/${stackId}/events`, { token: alice })).body as {
      seq: number;
      type: string;
    }[];
    const seen = toAlice.messages.filter((m) => m.event === "stack" && m.data.stackId === stackId);
    expect(seen.map((m) => [m.data.seq, m.data.type])).toEqual(events.map((e) => [e.seq, e.type]));

    // Bob's own stack: once its last event reached him, alice's would have too, before it.
    const bobs = await api.call("POST", "/teams/acme/stacks", {
      token: bob,
      body: { member: "bob", yaml: SIM },
    });
    const bobStack = (bobs.body as { stackId: string }).stackId;
    await toBob.next((m) => m.data.stackId === bobStack && m.data.type === "StackProvisioned");
    expect(toBob.messages.filter((m) => m.event === "stack").every((m) => m.data.member === "bob")).toBe(
      true,
    );
    expect(toBob.messages.some((m) => m.data.stackId === stackId)).toBe(false);
    expect(toAlice.messages.some((m) => m.data.stackId === bobStack)).toBe(false);
    await toAdmin.next((m) => m.data.stackId === bobStack && m.data.type === "StackProvisioned");
    for (const s of [toAlice, toBob, toAdmin]) s.close();
    await api.server.streams.until((open) => open === 0);
    await settled(api, "acme", bobStack, admin);
  });

  it("sends admins a rollout's changes and members none", async () => {
    await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: SIM });
    const made = await api.call("POST", "/teams/acme/stacks", {
      token: alice,
      body: { member: "alice", template: "web" },
    });
    await settled(api, "acme", (made.body as { stackId: string }).stackId, admin);
    await api.call("PUT", "/teams/acme/templates/web", { token: admin, body: `${SIM}# v2\n` });
    const toAdmin = await openStream(streamUrl(), admin);
    const toAlice = await openStream(streamUrl(), alice);
    await toAdmin.comment("connected");
    await toAlice.comment("connected");
    const started = await api.call("POST", "/teams/acme/templates/web/rollout", {
      token: admin,
      body: { version: 2, canary: 0 },
    });
    expect(started.status).toBe(202);
    const { rolloutId } = started.body as { rolloutId: string };
    expect((await toAdmin.next((m) => m.event === "rollout")).data).toEqual({ rolloutId });
    // Alice sees her stack being updated, never the rollout itself.
    await toAlice.next(
      (m) => m.event === "stack" && m.data.type === "StackProvisioned" && (m.data.seq as number) > 1,
    );
    await api.server.idle();
    expect(toAlice.messages.some((m) => m.event === "rollout")).toBe(false);
    toAdmin.close();
    toAlice.close();
    await api.server.streams.until((open) => open === 0);
  });

  it("refuses a request without a token (401), another team's (403), a POST (405), and a fifth stream of one member (429)", async () => {
    expect((await openStream(streamUrl())).status).toBe(401);
    expect((await openStream(streamUrl(), eve)).status).toBe(403);
    expect(
      (await checkedFetch(streamUrl(), { method: "POST", headers: { authorization: `Bearer ${alice}` } }))
        .status,
    ).toBe(405);
    const open = [];
    for (let i = 0; i < 4; i++) {
      const s = await openStream(streamUrl(), alice);
      expect(s.status).toBe(200);
      open.push(s);
    }
    const fifth = await openStream(streamUrl(), alice);
    expect(fifth.status).toBe(429);
    // Another member's streams are counted apart.
    const bobs = await openStream(streamUrl(), bob);
    expect(bobs.status).toBe(200);
    // A closed stream frees its place.
    open[0]?.close();
    await api.server.streams.until((n) => n === 4);
    const again = await openStream(streamUrl(), alice);
    expect(again.status).toBe(200);
    for (const s of [...open, bobs, again]) s.close();
    await api.server.streams.until((n) => n === 0);
  });
});

describe("the stream hub", () => {
  let server: Server;
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
  });

  it("sends a keepalive comment on a quiet stream and forgets a stream whose client went away", async () => {
    const hub = createStreamHub({ store: { getStack: async () => undefined }, keepaliveMs: 25 });
    server = createServer((req, res) => {
      // The document the stream's answers are checked against (openStream's checkedFetch).
      if (req.url === "/openapi.json") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(openApiDocument()));
        return;
      }
      if (!hub.handle(req, res, { sub: "alice", "teamstack:team": "acme" })) res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const s = await openStream(`http://127.0.0.1:${port}/teams/acme/stream`);
    await s.comment("keepalive");
    expect(hub.size()).toBe(1);
    s.close();
    await hub.until((n) => n === 0);
    expect(hub.size()).toBe(0);
  });
});
