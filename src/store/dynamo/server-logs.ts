import { type AttributeValue, QueryCommand } from "@aws-sdk/client-dynamodb";
import {
  decodePage,
  LOG_LIMIT_BYTES,
  LOG_PAGE_BYTES,
  type LogAttemptKind,
  type LogKey,
  type LogPage,
  LogShaper,
  type LogWriter,
  type ServerLogs,
  subjectSegment,
} from "../../ports/server-logs.ts";
import { stackChildPrefix, teamPk } from "../keys.ts";
import { createTableClient, type TableOptions } from "./table-client.ts";

/**
 * The ServerLogs port on the table (AWS). Under the stack's items, so that they go (and expire)
 * with the stack:
 *
 * | item | sk |
 * |---|---|
 * | attempt | `STACK#id#LOG#<subject>#NNNNNN` (kind, startedAt; endedAt, exitCode, truncated once ended) |
 * | chunk | `STACK#id#LOG#<subject>#NNNNNN#C#OOOOOOOOO` (`data`: at most 32 KiB of the text, as bytes, from byte offset O) |
 *
 * An attempt keeps at most {@link LOG_LIMIT_BYTES}, so at most 33 chunks: every item stays far
 * below DynamoDB's 400 KB. A writer sends a chunk when 32 KiB are waiting or half a second after
 * the first waiting byte, and at its end; a reader reads the chunks it needs.
 */

/** The most bytes in one chunk item. */
export const LOG_CHUNK_BYTES = 32 * 1024;
/** How long written text may wait before it is sent. */
const FLUSH_MS = 500;
/** An attempt not ended after this long (its writer died: a Lambda's limit is 15 minutes) counts as ended. */
const ABANDONED_MS = 20 * 60_000;

const pad = (n: number, digits: number) => String(n).padStart(digits, "0");

function prefixOf(key: LogKey): string {
  return `${stackChildPrefix(key)}LOG#${subjectSegment(key.subject)}#`;
}

export function createDynamoServerLogs(options: TableOptions): ServerLogs {
  const table = createTableClient(options);

  /** The newest attempt's number (0: none): the last item under the log's prefix names it. */
  async function newest(key: LogKey): Promise<number> {
    const prefix = prefixOf(key);
    const out = await table.send("Query", `the log of ${key.subject.kind} \`${key.subject.name}\``, (c) =>
      c.send(
        new QueryCommand({
          TableName: options.tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": { S: teamPk(key.team) }, ":prefix": { S: prefix } },
          ScanIndexForward: false,
          Limit: 1,
          ProjectionExpression: "sk",
          ConsistentRead: true,
        }),
      ),
    );
    const sk = out.Items?.[0]?.sk?.S;
    return sk ? Number(sk.slice(prefix.length, prefix.length + 6)) : 0;
  }

  return {
    async open(key: LogKey, kind: LogAttemptKind, secrets: readonly string[]): Promise<LogWriter> {
      const pk = teamPk(key.team);
      let attempt = 0;
      let base = "";
      for (;;) {
        attempt = (await newest(key)) + 1;
        base = `${prefixOf(key)}${pad(attempt, 6)}`;
        const item: Record<string, AttributeValue> = {
          pk: { S: pk },
          sk: { S: base },
          kind: { S: kind },
          startedAt: { S: new Date().toISOString() },
        };
        if (await table.putNew(item, `attempt ${attempt} of a log`)) break;
      }
      const shaper = new LogShaper(secrets);
      let waiting: Uint8Array[] = [];
      let waitingBytes = 0;
      let offset = 0;
      let sending: Promise<void> = Promise.resolve();
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        clearTimeout(timer);
        timer = undefined;
        if (waitingBytes === 0) return;
        const bytes = Buffer.concat(waiting);
        waiting = [];
        waitingBytes = 0;
        for (let at = 0; at < bytes.length; at += LOG_CHUNK_BYTES) {
          const data = bytes.subarray(at, at + LOG_CHUNK_BYTES);
          const item: Record<string, AttributeValue> = {
            pk: { S: pk },
            sk: { S: `${base}#C#${pad(offset, 9)}` },
            data: { B: data },
          };
          offset += data.length;
          // Best effort, in order: a chunk that cannot be written leaves a gap, not a failed run.
          sending = sending.then(() => table.putItem(item, "a log chunk").catch(() => undefined));
        }
      };
      const take = (bytes: Uint8Array): void => {
        if (bytes.length === 0) return;
        waiting.push(bytes);
        waitingBytes += bytes.length;
        if (waitingBytes >= LOG_CHUNK_BYTES) send();
        else timer ??= setTimeout(send, FLUSH_MS);
      };
      return {
        attempt,
        write: (text) => take(shaper.push(text)),
        async end(exitCode) {
          take(shaper.end());
          send();
          await sending;
          await table
            .updateItem(
              {
                Key: { pk: { S: pk }, sk: { S: base } },
                UpdateExpression: `SET endedAt = :at, truncated = :t${exitCode !== undefined ? ", exitCode = :code" : ""}`,
                ExpressionAttributeValues: {
                  ":at": { S: new Date().toISOString() },
                  ":t": { BOOL: shaper.truncated },
                  ...(exitCode !== undefined ? { ":code": { N: String(exitCode) } } : {}),
                },
              },
              `the end of attempt ${attempt} of a log`,
            )
            .catch(() => undefined);
        },
      };
    },

    async read(key, query = {}): Promise<LogPage | undefined> {
      const attempts = await newest(key);
      if (attempts === 0) return undefined;
      const attempt = query.attempt ?? attempts;
      if (attempt > attempts) return undefined;
      const base = `${prefixOf(key)}${pad(attempt, 6)}`;
      const pk = { S: teamPk(key.team) };
      const meta = await table.getItem({ pk, sk: { S: base } }, `attempt ${attempt} of a log`);
      if (!meta) return undefined;
      // Read before the chunks: an attempt seen ended has all its chunks written.
      const startedAt = Date.parse(meta.startedAt?.S ?? "");
      const ended = meta.endedAt?.S !== undefined || Date.now() - startedAt > ABANDONED_MS;
      const chunks = await table.queryAll({
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": pk, ":prefix": { S: `${base}#C#` } },
        ConsistentRead: true,
      });
      // Only the text up to the first gap (a chunk not written yet, or lost) is answered.
      const parts: Uint8Array[] = [];
      let size = 0;
      for (const c of chunks) {
        const at = Number(c.sk?.S?.slice(-9));
        const data = c.data?.B;
        if (!data || at !== size) break;
        parts.push(data);
        size += data.length;
      }
      const all = Buffer.concat(parts);
      const offset = Math.min(Math.max(0, query.after ?? 0), size);
      const end = Math.min(size, offset + LOG_PAGE_BYTES);
      const { text, used } = decodePage(all.subarray(offset, end), end === size && ended);
      const next = offset + used;
      const exitCode = meta.exitCode?.N;
      return {
        attempt,
        attempts,
        offset,
        next,
        text,
        complete: ended && next === size,
        truncated: meta.truncated?.BOOL === true,
        limitBytes: LOG_LIMIT_BYTES,
        kind: (meta.kind?.S ?? "user_data") as LogAttemptKind,
        ...(exitCode !== undefined ? { exitCode: Number(exitCode) } : {}),
      };
    },
  };
}
