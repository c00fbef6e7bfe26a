import type { LocalEngine } from "../local/engine.ts";
import { removeStackLogs } from "../local/server-logs.ts";
import type { StackKey, StackRecord } from "../ports/store.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { ndjsonLine } from "./ndjson.ts";
import { findRunningServer, type RunningServer } from "./server-client.ts";
import {
  common,
  downCommand as downOne,
  findStack,
  JSON_HELP,
  STATE_DIR_HELP,
  withEngine,
} from "./stack-commands.ts";

/**
 * Keeping the list clean from the command line: `down --member M --all` destroys every stack of a
 * member, a few at a time, reporting each; `forget ID` deletes a destroyed stack's records now
 * (otherwise they expire 30 days after it was destroyed).
 */

/** How many of a member's stacks `down --member M --all` destroys at once. */
export const DOWN_ALL_PARALLEL = 3;

/** One stack's outcome of `down --member M --all`. */
interface DownReport {
  readonly stackId: string;
  readonly team: string;
  readonly status: string;
  readonly error?: string;
}

/** Runs `work` over `items`, at most `limit` at a time, keeping their order in the result. */
async function pooled<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Destroys one stack, on this machine or through a running `serve`, and says how it ended. */
async function destroyOne(
  engine: LocalEngine,
  server: RunningServer | undefined,
  stack: StackRecord,
): Promise<DownReport> {
  const key: StackKey = { team: stack.team, stackId: stack.stackId };
  const report = async (error?: string): Promise<DownReport> => {
    const now = await engine.store.getStack(key);
    const status = now?.status ?? "GONE";
    const why = error ?? (status === "DESTROYED" ? undefined : now?.error);
    return { stackId: key.stackId, team: key.team, status, ...(why ? { error: why } : {}) };
  };
  if (server) {
    const res = await server.call(key.team, "DELETE", `/teams/${key.team}/stacks/${key.stackId}`);
    if (res.status !== 202)
      return report((res.body as { message?: string })?.message ?? `the server answered ${res.status}`);
    // The stack's lock shows the server's execution while it runs; it is released when it ends.
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const now = await engine.store.getStack(key);
      if (!now || (!now.lock && now.status !== "DESTROYING")) break;
    }
    return report();
  }
  const outcome = await engine.destroy(key);
  return report(
    outcome.status === "FAILED" && outcome.error === "StackLockedError" ? outcome.cause : undefined,
  );
}

/** `down --member M --all`: every stack of the member that is not destroyed yet. */
async function downMember(values: Values, member: string, io: Io): Promise<number> {
  return withEngine({ ...values, json: true }, io, async (engine) => {
    const team = values.team as string | undefined;
    const stacks = (await engine.store.listStacks()).filter(
      (s) => s.member === member && s.status !== "DESTROYED" && (team === undefined || s.team === team),
    );
    if (stacks.length === 0) {
      if (values.json) io.out("[]\n");
      else io.err(`member ${member} has no stack to destroy in ${engine.stateDir}\n`);
      return 0;
    }
    const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
    if (!values.json)
      io.err(
        `destroying ${stacks.length} stack${stacks.length === 1 ? "" : "s"} of member ${member}, ${DOWN_ALL_PARALLEL} at a time${server ? ` through ${server.url}` : ""}\n`,
      );
    const reports = await pooled(stacks, DOWN_ALL_PARALLEL, async (stack) => {
      const r = await destroyOne(engine, server, stack);
      // --json: NDJSON, one stack's report per line as each ends, then all of them (src/cli/ndjson.ts).
      if (values.json) io.out(ndjsonLine(r));
      else
        io.out(
          `${r.stackId.padEnd(22)} ${r.status.padEnd(11)} ${r.team}/${member}${r.error ? `  ${r.error}` : ""}\n`,
        );
      return r;
    });
    if (values.json) io.out(ndjsonLine(reports));
    return reports.every((r) => r.status === "DESTROYED") ? 0 : 1;
  });
}

/**
 * `down`: one stack by ID (the machine command of stack-commands.ts), or with `--member M --all`
 * every stack of a member.
 */
export const downCommand: Command = {
  ...downOne,
  usage: `${downOne.usage} | teamstack down --member NAME --all [--team NAME] [--json] [--state-dir DIR]`,
  options: {
    ...downOne.options,
    member: { type: "string" },
    all: { type: "boolean" },
    team: { type: "string" },
  },
  help: [
    ...downOne.help,
    [
      "--member NAME --all",
      `Destroy every stack of this member (${DOWN_ALL_PARALLEL} at a time); with --json, one line per stack as it ends, then all of them.`,
    ],
    ["--team NAME", "With --member: only that team's stacks."],
  ],
  async run(values, ids, io) {
    const member = values.member as string | undefined;
    if (member === undefined && values.all === undefined && values.team === undefined)
      return downOne.run(values, ids, io);
    if (ids.length > 0) throw new UsageError("give a stack ID, or --member NAME --all, not both");
    if (member === undefined) throw new UsageError("--all needs --member NAME: whose stacks to destroy");
    if (values.all !== true)
      throw new UsageError(`give --all to destroy every stack of member ${member} (or give one stack ID)`);
    return downMember(values, member, io);
  },
};

/** `forget ID`: deletes a destroyed stack's records now. */
export const forgetCommand: Command = {
  name: "forget",
  summary: "Delete a destroyed stack's records now (they go by themselves 30 days after it was destroyed).",
  usage: "teamstack forget ID [--json] [--state-dir DIR]",
  options: common,
  help: [JSON_HELP, STATE_DIR_HELP],
  async run(values, ids, io) {
    if (ids.length !== 1) throw new UsageError("give one stack ID");
    return withEngine({ ...values, json: true }, io, async (engine) => {
      const stack = await findStack(engine, ids[0] as string);
      if (stack.status !== "DESTROYED") {
        io.err(
          `teamstack forget: stack ${stack.stackId} is ${stack.status}, not DESTROYED: its servers may still exist, and forgetting it would lose track of them; tear it down first (teamstack down ${stack.stackId})\n`,
        );
        return 1;
      }
      await engine.store.deleteStack(stack);
      await removeStackLogs(engine.stateDir, stack);
      if (values.json) io.out(`${JSON.stringify({ stackId: stack.stackId, forgotten: true })}\n`);
      else io.err(`stack ${stack.stackId} forgotten: its records and logs are deleted\n`);
      return 0;
    });
  },
};
