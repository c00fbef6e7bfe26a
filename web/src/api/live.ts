import type { ApiClient } from "./client.ts";

/**
 * Live updates: `GET /teams/{team}/stream` (server-sent events, read with fetch so that the bearer
 * token goes in a header), or, where the API has no stream (404: API Gateway), a tick every few
 * seconds on which pages poll their GET routes with If-None-Match.
 */

/** `event: stack` of the stream: a StackEvent of a stack the caller may see. */
export interface StackEventMessage {
  readonly kind: "stack";
  readonly stackId: string;
  readonly member: string;
  readonly type: string;
  readonly seq: number;
  readonly at: string;
}
export interface RolloutMessage {
  readonly kind: "rollout";
  readonly rolloutId: string;
}
/** Time to poll (polling mode), or the stream (re)connected: anything may have changed. */
export interface TickMessage {
  readonly kind: "tick";
}
export type LiveMessage = StackEventMessage | RolloutMessage | TickMessage;

export type LiveMode = "connecting" | "stream" | "polling";

export interface Live {
  readonly mode: LiveMode;
  subscribe(listener: (message: LiveMessage) => void): () => void;
  onMode(listener: (mode: LiveMode) => void): () => void;
  close(): void;
}

export interface LiveOptions {
  /** How often polling mode ticks (default 2 s). */
  readonly pollMs?: number;
}

/** Parses one server-sent event block into a message (undefined: a comment or an unknown event). */
export function parseEventBlock(block: string): LiveMessage | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(data.join("\n")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (event === "stack" && typeof parsed.stackId === "string") {
    return {
      kind: "stack",
      stackId: parsed.stackId,
      member: String(parsed.member ?? ""),
      type: String(parsed.type ?? ""),
      seq: Number(parsed.seq ?? 0),
      at: String(parsed.at ?? ""),
    };
  }
  if (event === "rollout" && typeof parsed.rolloutId === "string")
    return { kind: "rollout", rolloutId: parsed.rolloutId };
  return undefined;
}

/** Connects to the team's stream, falling back to polling where there is none. */
export function connectLive(api: ApiClient, team: string, options: LiveOptions = {}): Live {
  const pollMs = options.pollMs ?? 2000;
  const listeners = new Set<(m: LiveMessage) => void>();
  const modeListeners = new Set<(m: LiveMode) => void>();
  const abort = new AbortController();
  let mode: LiveMode = "connecting";
  let poll: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const emit = (m: LiveMessage) => {
    for (const l of [...listeners]) l(m);
  };
  const setMode = (next: LiveMode) => {
    if (next === mode) return;
    mode = next;
    if (next === "polling" && poll === undefined) poll = setInterval(() => emit({ kind: "tick" }), pollMs);
    if (next !== "polling" && poll !== undefined) {
      clearInterval(poll);
      poll = undefined;
    }
    for (const l of [...modeListeners]) l(next);
  };

  async function readStream(): Promise<"absent" | "ended"> {
    const res = await fetch(`${api.base}/teams/${encodeURIComponent(team)}/stream`, {
      headers: { authorization: `Bearer ${api.token}`, accept: "text/event-stream" },
      cache: "no-store",
      signal: abort.signal,
    });
    if (res.status === 404 || res.status === 405 || res.status === 501) return "absent";
    if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream"))
      return "ended";
    setMode("stream");
    emit({ kind: "tick" }); // whatever happened while connecting
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended";
      buffer += value;
      let end = buffer.search(/\r?\n\r?\n/);
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const message = parseEventBlock(block);
        if (message) emit(message);
        end = buffer.search(/\r?\n\r?\n/);
      }
    }
  }

  void (async () => {
    let delay = 1000;
    while (!closed) {
      let outcome: "absent" | "ended";
      try {
        outcome = await readStream();
      } catch {
        if (closed) return;
        outcome = "ended";
      }
      if (outcome === "absent") {
        setMode("polling");
        return;
      }
      // Lost: poll meanwhile, and try the stream again a little later each time.
      setMode("polling");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();

  return {
    get mode() {
      return mode;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onMode(listener) {
      modeListeners.add(listener);
      return () => modeListeners.delete(listener);
    },
    close() {
      closed = true;
      abort.abort();
      if (poll !== undefined) clearInterval(poll);
      listeners.clear();
      modeListeners.clear();
    },
  };
}
