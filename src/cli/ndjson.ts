import type { StackEvent, StackKey } from "../ports/store.ts";

/**
 * `--json` on the commands that run a stack (`up`, `rerun`, `update`, `down`, `stop`, `start`):
 * newline-delimited JSON on stdout, one object per line. Every line but the last is an event of
 * the run, `{"type","team","stackId","seq","at","server"?,"message"}` (the stack's events as
 * `GET /teams/{team}/stacks/{id}/events` lists them); the last line is the command's result: the
 * stack's final status, as `teamstack status ID --json` prints it.
 */

/** One object as one line. */
export function ndjsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** The line of one stack event. */
export function eventLine(key: StackKey, e: StackEvent): string {
  return ndjsonLine({
    type: e.type,
    team: key.team,
    stackId: key.stackId,
    seq: e.seq,
    at: e.at,
    ...(e.server !== undefined ? { server: e.server } : {}),
    message: e.message,
  });
}

/** The last JSON value of a command's NDJSON output (its result), or undefined when there is none. */
export function lastJson(text: string): unknown {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const last = lines[lines.length - 1];
  return last === undefined ? undefined : JSON.parse(last);
}

/** The `--json` help of the commands that run a stack. */
export const RUN_JSON_HELP: readonly [string, string] = [
  "--json",
  "Print NDJSON on stdout: one JSON object per event of the run as it happens, the last line the stack's final status (as `status --json` shows it).",
];
