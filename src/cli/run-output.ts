import type { StackStatusView } from "../pipeline/status.ts";
import type { StackEvent, StackKey } from "../ports/store.ts";
import type { Io, Values } from "./command.ts";
import { LiveTable } from "./live-table.ts";
import { eventLine, ndjsonLine } from "./ndjson.ts";

/**
 * What a command that runs a stack shows while it runs, in one of three ways:
 * - `--json`: NDJSON on stdout (src/cli/ndjson.ts): the run's events, then the final status;
 * - on a terminal: the live table (src/cli/live-table.ts) on stderr;
 * - otherwise: one plain line per event on stderr, `  12.3s  mysql: creating`.
 */
export interface RunOutput {
  /** An event of a stack (from this process's engine, or read from the store when `serve` runs it). */
  event(key: StackKey, e: StackEvent): void;
  /** A run of `key` begins (`doing`: provisioning, destroying, ...): show it from now on. */
  begin(key: StackKey, doing: string): void;
  /** The run ended as `view`: the table's last frame, or the final status line (--json). */
  end(view: StackStatusView): void;
  /** The run was stopped (a signal, a lost store): the table's last frame stays; nothing more. */
  stop(): void;
  /** How to read a stack's status view (set once the engine is open). */
  load?: (key: StackKey) => Promise<StackStatusView | undefined>;
}

/** How many events `--json` keeps before a run begins (those of the run's own preparation). */
const MAX_EARLY_EVENTS = 200;

const sameStack = (a: StackKey, b: StackKey): boolean => a.team === b.team && a.stackId === b.stackId;

/** The run output for a command's flags and where it writes. */
export function createRunOutput(values: Values, io: Io): RunOutput {
  if (values.json === true) return jsonOutput(io);
  if (io.terminal) return liveOutput(io);
  return plainOutput(io);
}

function plainOutput(io: Io): RunOutput {
  const t0 = Date.now();
  return {
    event: (_key, e) => io.err(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s  ${e.message}\n`),
    begin: () => undefined,
    end: () => undefined,
    stop: () => undefined,
  };
}

function jsonOutput(io: Io): RunOutput {
  let running: StackKey | undefined;
  const early: [StackKey, StackEvent][] = [];
  const seen = new Set<string>();
  const print = (key: StackKey, e: StackEvent): void => {
    // The same event may arrive from the engine and from the store; each is printed once.
    const id = `${key.team}/${key.stackId}/${e.seq}`;
    if (seen.has(id)) return;
    seen.add(id);
    io.out(eventLine(key, e));
  };
  return {
    event(key, e) {
      if (running && sameStack(running, key)) print(key, e);
      else if (!running && early.length < MAX_EARLY_EVENTS) early.push([key, e]);
    },
    begin(key) {
      running = key;
      for (const [k, e] of early.splice(0)) if (sameStack(k, key)) print(k, e);
    },
    end(view) {
      io.out(ndjsonLine(view));
    },
    stop: () => undefined,
  };
}

function liveOutput(io: Io): RunOutput {
  const terminal = io.terminal;
  if (!terminal) throw new Error("a live table needs a terminal");
  let table: LiveTable | undefined;
  let running: StackKey | undefined;
  let latest: string | undefined;
  const output: RunOutput = {
    event(key, e) {
      if (running && !sameStack(running, key)) return;
      latest = e.message;
      table?.changed(e.message);
    },
    begin(key, doing) {
      if (table) return;
      running = key;
      table = new LiveTable(terminal, async () => output.load?.(key), doing);
      if (latest !== undefined) table.changed(latest);
    },
    end(view) {
      if (table) table.end(view);
      else {
        // Nothing ran (an update with nothing to do): one frame of the stack as it is.
        new LiveTable(terminal, async () => view).end(view);
      }
      table = undefined;
    },
    stop() {
      table?.end();
      table = undefined;
    },
  };
  return output;
}

/** Each open engine's run output, so that the shared helpers (runGuarded, finish) find it. */
const outputs = new WeakMap<object, RunOutput>();

/** Binds a run output to an engine (withEngine does, once the engine is open). */
export function bindRunOutput(engine: object, output: RunOutput): void {
  outputs.set(engine, output);
}

/** The run output bound to an engine, if any. */
export function runOutputOf(engine: object): RunOutput | undefined {
  return outputs.get(engine);
}

/** What a state machine does, for the table's heading. */
export const DOING = {
  provision: "provisioning",
  destroy: "destroying",
  stop: "stopping",
  start: "starting",
} as const;
