import { createSocket, type RemoteInfo } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";

const A = 1;
const AAAA = 28;

/**
 * The answers for one name: a list, or a function called on every query of that type (a name
 * whose answer changes from one query to the next).
 */
export type Answers = readonly string[] | ((query: number) => readonly string[]);

export interface DnsServer {
  /** `127.0.0.1:PORT`, for `Resolver.setServers`. */
  readonly address: string;
  /** Names and their answers; a name not here is NXDOMAIN. Lower case, no trailing dot. */
  readonly names: Map<string, Answers>;
  /** How many queries of each `name type` arrived (`rebind.test A`). */
  readonly queries: Map<string, number>;
  /** A resolver that asks only this server. */
  resolver(): Resolver;
  close(): Promise<void>;
}

/**
 * A real DNS server over UDP on 127.0.0.1 and a random port: it answers A and AAAA queries from
 * `names` with TTL 0 (nothing may be cached between two queries), and NXDOMAIN for other names.
 */
export async function startDnsServer(): Promise<DnsServer> {
  const names = new Map<string, Answers>();
  const queries = new Map<string, number>();
  const socket = createSocket("udp4");
  socket.on("message", (message: Buffer, peer: RemoteInfo) => {
    const answer = respond(message, names, queries);
    if (answer) socket.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${socket.address().port}`;
  return {
    address,
    names,
    queries,
    resolver() {
      const resolver = new Resolver({ timeout: 5_000, tries: 2 });
      resolver.setServers([address]);
      return resolver;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function respond(message: Buffer, names: Map<string, Answers>, queries: Map<string, number>): Buffer | null {
  if (message.length < 12) return null;
  const labels: string[] = [];
  let at = 12;
  while (at < message.length) {
    const length = message[at] as number;
    if (length === 0) break;
    labels.push(message.subarray(at + 1, at + 1 + length).toString("latin1"));
    at += 1 + length;
  }
  const questionEnd = at + 5;
  if (questionEnd > message.length) return null;
  const type = message.readUInt16BE(at + 1);
  const name = labels.join(".").toLowerCase();
  const key = `${name} ${type === A ? "A" : type === AAAA ? "AAAA" : String(type)}`;
  const count = (queries.get(key) ?? 0) + 1;
  queries.set(key, count);
  const entry = names.get(name);
  const all = entry === undefined ? [] : typeof entry === "function" ? entry(count) : entry;
  const records = all
    .filter((a) => isIP(a) === (type === A ? 4 : type === AAAA ? 6 : -1))
    .map((a) => (type === A ? v4Bytes(a) : v6Bytes(a)));
  const header = Buffer.alloc(12);
  message.copy(header, 0, 0, 2);
  const recursionDesired = (message[2] as number) & 0x01;
  header[2] = 0x80 | 0x04 | recursionDesired; // a response, authoritative
  header[3] = 0x80 | (entry === undefined ? 3 : 0); // recursion available; NXDOMAIN or no error
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const question = message.subarray(12, questionEnd);
  const answers = records.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(0, 6); // TTL 0
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, question, ...answers]);
}

function v4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

function v6Bytes(address: string): Buffer {
  const [left = "", right] = address.split("::");
  const words = (part: string) => (part === "" ? [] : part.split(":").map((w) => Number.parseInt(w, 16)));
  const head = words(left);
  const tail = right === undefined ? [] : words(right);
  const all = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => {
    out.writeUInt16BE(w, i * 2);
  });
  return out;
}
