import { createStreamMasker, type StreamMasker } from "../core/mask.ts";

/**
 * The ServerLogs port: the kept output of every attempt of a server's user_data and on_start, and
 * of every run of a hook that prints (run_script). Files under the state directory locally
 * (src/local/server-logs.ts), items of the table in AWS (src/store/dynamo/server-logs.ts).
 *
 * Each log is a sequence of attempts numbered from 1; an attempt's text only grows (append-only),
 * so a byte offset into it stays valid while it runs: a reader asks for the text after the offset
 * it has and gets the next one. Text is masked before it is kept and bounded per attempt
 * ({@link LOG_LIMIT_BYTES}).
 */

/** The most bytes an attempt keeps: the first part as it comes, then, at its end, the last part. */
export const LOG_LIMIT_BYTES = 1024 * 1024;
/** Of {@link LOG_LIMIT_BYTES}, how much is the attempt's end, kept once the head is full. */
export const LOG_TAIL_BYTES = 64 * 1024;
/** The most bytes one read answers (a reader asks again from `next`). */
export const LOG_PAGE_BYTES = 256 * 1024;

/** Whose log: a server's (`server`) or a hook's (`hook`: `pre:0`, `post:2`, `destroy:1`). */
export type LogSubject =
  | { readonly kind: "server"; readonly name: string }
  | { readonly kind: "hook"; readonly name: string };

export interface LogKey {
  readonly team: string;
  readonly stackId: string;
  readonly subject: LogSubject;
}

/** What an attempt ran. */
export type LogAttemptKind = "user_data" | "on_start" | "hook";

/** One page of an attempt's kept text. */
export interface LogPage {
  readonly attempt: number;
  /** How many attempts the log has. */
  readonly attempts: number;
  /** The byte offset `text` starts at. */
  readonly offset: number;
  /** The byte offset after `text`: the next read's `after`. */
  readonly next: number;
  readonly text: string;
  /** The attempt has ended and `next` is the end of its text: nothing more will come. */
  readonly complete: boolean;
  /** Part of the attempt's output was cut to keep it within `limitBytes`. */
  readonly truncated: boolean;
  readonly limitBytes: number;
  /** What the attempt ran. */
  readonly kind: LogAttemptKind;
  /** Its exit code, once known. */
  readonly exitCode?: number;
}

/** Writes one attempt's output as it comes: masks it, bounds it, keeps it. */
export interface LogWriter {
  readonly attempt: number;
  /** Takes the next piece of output (any size, any boundary); never throws. */
  write(text: string): void;
  /** Ends the attempt: writes what is held back and records its exit code. */
  end(exitCode?: number): Promise<void>;
}

export interface ServerLogs {
  /**
   * Starts the next attempt of a log. `secrets`: the values to mask in its text, with their
   * encodings (a secret split across two writes is masked too).
   */
  open(key: LogKey, kind: LogAttemptKind, secrets: readonly string[]): Promise<LogWriter>;
  /**
   * Text of an attempt (default: the newest) after byte offset `after` (default 0), at most
   * {@link LOG_PAGE_BYTES}; undefined when the log has no attempt, or not that one.
   */
  read(
    key: LogKey,
    options?: { readonly attempt?: number; readonly after?: number },
  ): Promise<LogPage | undefined>;
}

/** A log subject as one path or key segment: `server.NAME`, `hook.post.0`. */
export function subjectSegment(subject: LogSubject): string {
  return `${subject.kind}.${subject.name.replace(":", ".")}`;
}

const utf8 = new TextEncoder();

/**
 * Masks and bounds one attempt's text as it streams in. The first `limit - tail - 256` bytes are
 * passed on as they come (a reader following the log sees them at once); after that the newest
 * `tail` bytes are held, and at the end a marker line saying how much was cut and those last bytes
 * are passed on. What an attempt keeps is thus never more than `limit` bytes and only grows.
 */
export class LogShaper {
  readonly #masker: StreamMasker;
  readonly #tailBytes: number;
  readonly #limit: number;
  #headLeft: number;
  #tail: Uint8Array[] = [];
  #tailSize = 0;
  #dropped = 0;
  #ended = false;

  constructor(secrets: readonly string[], limit = LOG_LIMIT_BYTES, tail = LOG_TAIL_BYTES) {
    this.#masker = createStreamMasker(secrets);
    this.#limit = limit;
    this.#tailBytes = Math.min(tail, Math.floor(limit / 4));
    this.#headLeft = Math.max(0, limit - this.#tailBytes - 256);
  }

  /** Whether anything was cut (known for sure once ended). */
  get truncated(): boolean {
    return this.#dropped > 0;
  }

  /** The bytes to keep now for this piece of output. */
  push(text: string): Uint8Array {
    if (this.#ended) return new Uint8Array(0);
    return this.#bound(utf8.encode(this.#masker.push(text)));
  }

  /** The rest, at the end of the attempt. */
  end(): Uint8Array {
    if (this.#ended) return new Uint8Array(0);
    const head = this.#bound(utf8.encode(this.#masker.end()));
    this.#ended = true;
    let tail = concat(this.#tail);
    this.#tail = [];
    if (this.#dropped === 0) return concat([head, tail]);
    // Start the kept end at a character (a UTF-8 continuation byte is 10xxxxxx).
    let start = 0;
    while (start < tail.length && ((tail[start] as number) & 0xc0) === 0x80) start++;
    this.#dropped += start;
    tail = tail.subarray(start);
    const marker = utf8.encode(
      `\n[teamstack] ... ${this.#dropped} bytes cut here to keep this attempt within ${this.#limit} bytes; its last ${tail.length} bytes follow ...\n`,
    );
    return concat([head, marker, tail]);
  }

  #bound(bytes: Uint8Array): Uint8Array {
    if (bytes.length <= this.#headLeft) {
      this.#headLeft -= bytes.length;
      return bytes;
    }
    // Cut the head at a character boundary; the rest goes to the held tail.
    let cut = this.#headLeft;
    while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
    const head = bytes.subarray(0, cut);
    this.#headLeft = 0;
    this.#hold(bytes.subarray(cut));
    return head;
  }

  #hold(bytes: Uint8Array): void {
    this.#tail.push(bytes);
    this.#tailSize += bytes.length;
    while (this.#tailSize > this.#tailBytes) {
      const first = this.#tail[0] as Uint8Array;
      const over = this.#tailSize - this.#tailBytes;
      if (first.length <= over) {
        this.#tail.shift();
        this.#tailSize -= first.length;
        this.#dropped += first.length;
      } else {
        this.#tail[0] = first.subarray(over);
        this.#tailSize -= over;
        this.#dropped += over;
      }
    }
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Decodes a page of bytes read at some offset: it ends before a UTF-8 sequence cut by the page's
 * end (the next page starts there). Returns the text and how many bytes it used.
 */
export function decodePage(bytes: Uint8Array, atEnd: boolean): { text: string; used: number } {
  let used = bytes.length;
  if (!atEnd) {
    // Back off an incomplete trailing sequence: at most 3 bytes.
    let i = used - 1;
    let back = 0;
    while (i >= 0 && back < 4 && ((bytes[i] as number) & 0xc0) === 0x80) {
      i--;
      back++;
    }
    if (i >= 0) {
      const lead = bytes[i] as number;
      const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (used - i < need) used = i;
    }
  }
  return { text: new TextDecoder("utf-8").decode(bytes.subarray(0, used)), used };
}

/**
 * Keeps a finished run's output as one attempt of a log (on_start, a hook: output known only at
 * the end). Best effort: a log that cannot be written does not fail the run. `output` is masked
 * already; `secrets` masks it again where given.
 */
export async function keepOutput(
  logs: ServerLogs | undefined,
  key: LogKey,
  kind: LogAttemptKind,
  output: string,
  exitCode?: number,
  secrets: readonly string[] = [],
): Promise<void> {
  if (!logs) return;
  try {
    const writer = await logs.open(key, kind, secrets);
    writer.write(output);
    await writer.end(exitCode);
  } catch {
    // best effort, see above
  }
}
