/**
 * The Engine's multiplexed stream (an exec or attach without a TTY): frames of an 8-byte header
 * (stream 0 stdin, 1 stdout, 2 stderr; three zero bytes; a big-endian 32-bit length) and that many
 * bytes. Chunks may cut a header or a payload anywhere.
 */
export class StreamDemuxer {
  #pending: Buffer = Buffer.alloc(0);
  readonly #onFrame: (stream: number, data: Buffer) => void;

  constructor(onFrame: (stream: number, data: Buffer) => void) {
    this.#onFrame = onFrame;
  }

  /** Takes the next chunk of the stream and calls back once per complete frame (or part of one). */
  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (this.#pending.length < 8) return;
      const stream = this.#pending[0] as number;
      const size = this.#pending.readUInt32BE(4);
      if (this.#pending.length < 8 + size) return;
      const data = this.#pending.subarray(8, 8 + size);
      this.#pending = this.#pending.subarray(8 + size);
      if (size > 0) this.#onFrame(stream, data);
    }
  }

  /** Bytes of an incomplete frame left at the end of the stream (0 when it ended cleanly). */
  get leftover(): number {
    return this.#pending.length;
  }
}

/** One frame as the Engine writes it (for tests and the shell helper's own use). */
export function frame(stream: number, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}
