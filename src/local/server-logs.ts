import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
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
} from "../ports/server-logs.ts";
import type { StackKey } from "../ports/store.ts";
import { isAlive, type ProcessIdentity } from "../providers/local/proc.ts";
import { createFileExclusive, isErrno, mkdirPrivate, readJsonFile } from "../shared/state-files.ts";

/**
 * The ServerLogs port on files: `<stateDir>/logs/<team>/<stackId>/<subject>/NNNNNN.log` (the
 * attempt's kept, masked text, append-only) and `NNNNNN.json` (what it ran, who writes it, when it
 * ended, its exit code). Directories 0700, files 0600, owned by the user teamstack runs as: no
 * sandbox sees the state directory, so no server can write (or read) its own log. The writer of
 * a local server's user_data is its sandbox's holder (a process outside the sandbox), which
 * appends as user_data prints: a reader sees each line as soon as it is written. An attempt
 * whose writer died without ending it counts as ended.
 */

/** What `NNNNNN.json` holds. */
export interface AttemptMeta {
  readonly attempt: number;
  readonly kind: LogAttemptKind;
  readonly startedAt: string;
  /** The process that writes the attempt (the holder, for a sandbox's user_data). */
  readonly writer?: ProcessIdentity;
  readonly endedAt?: string;
  readonly exitCode?: number;
  readonly truncated?: boolean;
}

/** Where one attempt's files are. */
export interface AttemptFiles {
  readonly log: string;
  readonly meta: string;
}

/** A log key names a directory: only names a template allows. */
const SAFE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

export class LogKeyError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.LogKeyError;
  }
}

/**
 * Refuses a name that is not one path segment teamstack could have made.
 * @throws LogKeyError naming what the value is, the value, and what was expected.
 */
function checkSegments(doing: string, names: ReadonlyArray<readonly [string, string]>): void {
  for (const [what, value] of names) {
    if (!SAFE.test(value) || value.includes("..")) {
      throw new LogKeyError(
        `cannot ${doing} for the ${what} ${JSON.stringify(value)}: expected 1 to 128 letters, digits, \`_\`, \`.\`, \`:\` or \`-\`, without \`..\``,
      );
    }
  }
}

export function logDir(stateDir: string, key: LogKey): string {
  checkSegments("keep a log", [
    ["team", key.team],
    ["stack id", key.stackId],
    [key.subject.kind, key.subject.name],
  ]);
  return join(stateDir, "logs", key.team, key.stackId, subjectSegment(key.subject));
}

/**
 * Removes every log of a stack whose records are gone (`teamstack forget`, or the 30-day purge of
 * a destroyed stack), as DynamoDB's TTL removes a deployed stack's log items with its records.
 * @throws LogKeyError for a team or stack id that is not a name.
 */
export async function removeStackLogs(stateDir: string, key: StackKey): Promise<void> {
  checkSegments("remove the logs", [
    ["team", key.team],
    ["stack id", key.stackId],
  ]);
  await rm(join(stateDir, "logs", key.team, key.stackId), { recursive: true, force: true });
}

function attemptFiles(dir: string, attempt: number): AttemptFiles {
  const base = String(attempt).padStart(6, "0");
  return { log: join(dir, `${base}.log`), meta: join(dir, `${base}.json`) };
}

async function attemptNumbers(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  return names
    .filter((n) => /^\d{6}\.json$/.test(n))
    .map((n) => Number(n.slice(0, 6)))
    .sort((a, b) => a - b);
}

/**
 * Makes the next attempt of a log: its meta file, created exclusively (two writers never get the
 * same number), and an empty log file.
 */
export async function allocateAttempt(
  stateDir: string,
  key: LogKey,
  kind: LogAttemptKind,
): Promise<{ meta: AttemptMeta; files: AttemptFiles }> {
  const dir = logDir(stateDir, key);
  await mkdirPrivate(dir);
  for (;;) {
    const attempt = ((await attemptNumbers(dir)).at(-1) ?? 0) + 1;
    const files = attemptFiles(dir, attempt);
    const meta: AttemptMeta = { attempt, kind, startedAt: new Date().toISOString() };
    if (await createFileExclusive(files.meta, `${JSON.stringify(meta)}\n`)) {
      const fd = openSync(files.log, "a", 0o600);
      closeSync(fd);
      return { meta, files };
    }
  }
}

function writeMeta(path: string, meta: AttemptMeta): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(meta)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * Writes one attempt's file synchronously (the holder writes with sync calls): masks and bounds
 * through a {@link LogShaper}, appends, and records the end. Errors writing are swallowed: a full
 * disk must not stop user_data or its readiness.
 */
export class AttemptFileWriter {
  readonly #files: AttemptFiles;
  #meta: AttemptMeta;
  readonly #shaper: LogShaper;
  #fd: number | undefined;

  constructor(
    files: AttemptFiles,
    meta: AttemptMeta,
    secrets: readonly string[],
    writer: ProcessIdentity,
    limit = LOG_LIMIT_BYTES,
  ) {
    this.#files = files;
    this.#meta = { ...meta, writer };
    this.#shaper = new LogShaper(secrets, limit);
    try {
      this.#fd = openSync(files.log, "a", 0o600);
      writeMeta(files.meta, this.#meta);
    } catch {
      this.#fd = undefined;
    }
  }

  get attempt(): number {
    return this.#meta.attempt;
  }

  write(text: string): void {
    this.#append(this.#shaper.push(text));
  }

  end(exitCode?: number): void {
    if (this.#fd === undefined) return;
    this.#append(this.#shaper.end());
    try {
      writeMeta(this.#files.meta, {
        ...this.#meta,
        endedAt: new Date().toISOString(),
        ...(exitCode !== undefined ? { exitCode } : {}),
        truncated: this.#shaper.truncated,
      });
      closeSync(this.#fd);
    } catch {
      // see the class comment
    }
    this.#fd = undefined;
  }

  #append(bytes: Uint8Array): void {
    if (this.#fd === undefined || bytes.length === 0) return;
    try {
      writeSync(this.#fd, bytes);
    } catch {
      // see the class comment
    }
  }
}

/** This process, as a log's writer. */
export function selfWriter(): ProcessIdentity {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return { pid: process.pid, startTime: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "" };
}

/** How long an attempt whose writer never registered (its creator died first) counts as running. */
const UNCLAIMED_MS = 10 * 60_000;

/** The ServerLogs port on files under a state directory (see the file's comment). */
export function createFileServerLogs(stateDir: string): ServerLogs {
  return {
    async open(key: LogKey, kind: LogAttemptKind, secrets: readonly string[]): Promise<LogWriter> {
      const { meta, files } = await allocateAttempt(stateDir, key, kind);
      const writer = new AttemptFileWriter(files, meta, secrets, selfWriter());
      return {
        attempt: meta.attempt,
        write: (text) => writer.write(text),
        end: async (exitCode) => writer.end(exitCode),
      };
    },

    async read(key, options = {}): Promise<LogPage | undefined> {
      const dir = logDir(stateDir, key);
      const numbers = await attemptNumbers(dir);
      const attempts = numbers.at(-1);
      if (attempts === undefined) return undefined;
      const attempt = options.attempt ?? attempts;
      if (!numbers.includes(attempt)) return undefined;
      const files = attemptFiles(dir, attempt);
      const meta = await readJsonFile<AttemptMeta>(files.meta);
      if (!meta) return undefined;
      // Read before the text: an attempt seen ended has all its text written.
      let ended = meta.endedAt !== undefined;
      if (!ended && meta.writer) ended = !(await isAlive(meta.writer));
      if (!ended && !meta.writer) ended = Date.now() - Date.parse(meta.startedAt) > UNCLAIMED_MS;
      const size = await stat(files.log).then(
        (s) => s.size,
        () => 0,
      );
      const offset = Math.min(Math.max(0, options.after ?? 0), size);
      const end = Math.min(size, offset + LOG_PAGE_BYTES);
      const bytes = Buffer.alloc(end - offset);
      if (bytes.length > 0) {
        const handle = await open(files.log, "r");
        try {
          await handle.read(bytes, 0, bytes.length, offset);
        } finally {
          await handle.close();
        }
      }
      const { text, used } = decodePage(bytes, end === size && ended);
      const next = offset + used;
      return {
        attempt,
        attempts,
        offset,
        next,
        text,
        complete: ended && next === size,
        truncated: meta.truncated === true,
        limitBytes: LOG_LIMIT_BYTES,
        kind: meta.kind,
        ...(meta.exitCode !== undefined ? { exitCode: meta.exitCode } : {}),
      };
    },
  };
}

/** Ends an attempt that its writer never took on (its sandbox could not be made), with a note why. */
export async function endAttempt(
  attempt: { meta: AttemptMeta; files: AttemptFiles },
  note: string,
): Promise<void> {
  const writer = new AttemptFileWriter(attempt.files, attempt.meta, [], selfWriter());
  writer.write(`[teamstack] ${note}\n`);
  writer.end();
}
