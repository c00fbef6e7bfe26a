import { formatDuration, type StackProgress, stackProgress } from "../core/progress.ts";
import type { StackStatusView } from "../pipeline/status.ts";
import type { Io } from "./command.ts";

/**
 * The live table `up`, `rerun`, `update`, `down`, `stop` and `start` show on a terminal: one
 * table of the stack's servers (state, elapsed time, what each waits for), its hooks as they run
 * and the estimate (src/core/progress.ts), redrawn in place with ANSI cursor movement at most
 * {@link REDRAWS_PER_SECOND} times a second, its last frame left on the screen when the run ends.
 */

/** What the process's terminal offers a live table (present on an Io only when stderr is one). */
export interface Terminal {
  /** Its width now. */
  columns(): number;
  /** Whether colours may be used (a terminal, and NO_COLOR not set). */
  readonly colour: boolean;
  /** The screen that keeps other output from breaking a table being redrawn. */
  readonly screen: Screen;
}

export const REDRAWS_PER_SECOND = 4;
/** How often the table is redrawn with nothing new (elapsed times move on). */
const TICK_MS = 1000;

const ESC = "\u001b[";
export const ANSI = {
  up: (n: number) => `${ESC}${n}A`,
  clearLine: `${ESC}2K`,
  clearDown: `${ESC}J`,
} as const;

/**
 * The terminal's screen: while a table is shown, text written to stdout or stderr first erases
 * the table, then the table is drawn again below the text, so the table stays one block at the
 * bottom that cursor movement can find.
 */
export class Screen {
  #lines = 0;
  #frame: readonly string[] = [];
  #active = false;
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  get active(): boolean {
    return this.#active;
  }

  /** Draws `frame` in place of the one shown (the first call shows it below what is there). */
  draw(frame: readonly string[]): void {
    this.#active = true;
    let out = this.#lines > 0 ? `\r${ANSI.up(this.#lines)}` : "";
    for (const line of frame) out += `${ANSI.clearLine}${line}\n`;
    if (frame.length < this.#lines) out += ANSI.clearDown;
    this.#frame = frame;
    this.#lines = frame.length;
    this.#write(out);
  }

  /** Leaves the frame shown where it is: what is written next goes below it. */
  release(): void {
    this.#active = false;
    this.#lines = 0;
    this.#frame = [];
  }

  /** Writes `text` above the table (when one is shown) through `write`. */
  print(write: (text: string) => void, text: string): void {
    if (!this.#active || this.#lines === 0) {
      write(text);
      return;
    }
    this.#write(`\r${ANSI.up(this.#lines)}${ANSI.clearDown}`);
    this.#lines = 0;
    write(text.endsWith("\n") ? text : `${text}\n`);
    this.draw(this.#frame);
  }
}

/** Whether colours may be used on a terminal: never when NO_COLOR is set to anything but "". */
export function colourAllowed(env: Readonly<Record<string, string | undefined>>): boolean {
  return (env.NO_COLOR ?? "") === "";
}

const stderrScreen = new Screen((text) => process.stderr.write(text));

/** The process's stdout and stderr, with a live table on stderr when it is a terminal. */
export const processIo: Io = {
  out: (text) => stderrScreen.print((t) => process.stdout.write(t), text),
  err: (text) => stderrScreen.print((t) => process.stderr.write(t), text),
  ...(process.stderr.isTTY && process.env.TERM !== "dumb"
    ? {
        terminal: {
          columns: () => process.stderr.columns || 80,
          colour: colourAllowed(process.env),
          screen: stderrScreen,
        },
      }
    : {}),
};

const COLOURS = {
  green: "32",
  red: "31",
  yellow: "33",
  cyan: "36",
  dim: "2",
  bold: "1",
} as const;

type Paint = (colour: keyof typeof COLOURS, text: string) => string;

const STATE_COLOUR: Record<string, keyof typeof COLOURS> = {
  SUCCEEDED: "green",
  RUNNING: "yellow",
  CREATING: "yellow",
  DESTROYING: "yellow",
  STOPPING: "yellow",
  STARTING: "yellow",
  FAILED: "red",
  INTERRUPTED: "red",
  WAITING: "cyan",
  PENDING: "dim",
  SKIPPED: "dim",
  DESTROYED: "dim",
  STOPPED: "dim",
};

/** The visible width of a line (colour codes take none). */
function visible(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are what is measured out
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}

/** Cuts a line to `columns` visible characters, so that no line wraps (a wrapped line breaks cursor-up). */
function fitWidth(line: string, columns: number): string {
  if (visible(line) <= columns) return line;
  let out = "";
  let shown = 0;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are kept whole
  for (const part of line.split(/(\u001b\[[0-9;]*m)/)) {
    if (part.startsWith("\u001b[")) {
      out += part;
      continue;
    }
    const room = columns - 1 - shown;
    if (room <= 0) continue;
    out += part.slice(0, room);
    shown += Math.min(part.length, room);
  }
  return `${out}…${line.includes("\u001b[") ? `${ESC}0m` : ""}`;
}

export interface FrameOptions {
  readonly now: number;
  readonly colour: boolean;
  readonly columns: number;
  /** The latest event's message, shown under the table. */
  readonly latest?: string;
  /** What the command does, in the heading (provisioning, destroying, ...). */
  readonly doing?: string;
}

/** The table's lines for a stack's status view at `now`. */
export function renderFrame(view: StackStatusView, options: FrameOptions): string[] {
  const paint: Paint = (c, text) => (options.colour ? `${ESC}${COLOURS[c]}m${text}${ESC}0m` : text);
  const state = (s: string, width = 0): string => {
    const padded = s.padEnd(width);
    const c = STATE_COLOUR[s];
    return c ? paint(c, padded) : padded;
  };
  const p: StackProgress = stackProgress(view, options.now);
  const running = ["RUNNING", "DESTROYING", "STOPPING", "STARTING"].includes(view.status);
  const heading = [
    paint("bold", `stack ${view.stackId}`),
    state(view.status),
    ...(p.total > 0 ? [`${p.ready}/${p.total} ready`] : []),
    formatDuration(p.elapsedMs),
    ...(options.doing && running ? [paint("dim", options.doing)] : []),
  ];
  const lines = [heading.join("  ")];
  if (p.estimate)
    lines.push(
      `  ready in ~${formatDuration(p.estimate.remainingMs)}, critical path ${p.estimate.criticalPath.join(" → ")}`,
    );
  const nameWidth = Math.max(4, ...view.servers.map((s) => s.name.length));
  const providerWidth = Math.max(5, ...view.servers.map((s) => s.provider.length));
  view.servers.forEach((s, i) => {
    const sp = p.servers[i];
    const elapsed = sp?.elapsedMs != null ? formatDuration(sp.elapsedMs) : "";
    const waits = sp && sp.waitsFor.length > 0 ? paint("dim", `waits for ${sp.waitsFor.join(", ")}`) : "";
    const change = s.change ? paint("dim", `(${s.change})`) : "";
    const error = s.error ? paint("red", s.error) : "";
    const row = [
      `  ${s.name.padEnd(nameWidth)}`,
      state(s.status, 10),
      s.provider.padEnd(providerWidth),
      elapsed.padStart(7),
      [change, waits, error].filter((x) => x !== "").join(" "),
    ];
    lines.push(row.join("  ").trimEnd());
  });
  // Hooks once they run: those not reached yet would only push the servers off a small screen.
  for (const h of view.hooks.filter((h) => h.status !== "PENDING")) {
    lines.push(
      `  ${`${h.phase}:${h.index}`.padEnd(nameWidth)}  ${state(h.status, 10)}  ${h.type}${h.exitCode !== null ? ` (exit ${h.exitCode})` : ""}`,
    );
  }
  if (options.latest) lines.push(paint("dim", `  ${options.latest}`));
  return lines.map((l) => fitWidth(l, Math.max(20, options.columns)));
}

/** A live table on a terminal: fed a stack's views as they change; redraws at most 4 times a second. */
export class LiveTable {
  readonly #terminal: Terminal;
  readonly #load: () => Promise<StackStatusView | undefined>;
  readonly #doing: string | undefined;
  #view: StackStatusView | undefined;
  #latest: string | undefined;
  #lastDraw = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #loading: Promise<void> | undefined;
  #dirty = false;
  #ended = false;
  #shown = "";

  constructor(terminal: Terminal, load: () => Promise<StackStatusView | undefined>, doing?: string) {
    this.#terminal = terminal;
    this.#load = load;
    this.#doing = doing;
    this.#tick = setInterval(() => this.#draw(), TICK_MS);
    this.#tick.unref?.();
    this.changed();
  }

  /** Something happened (an event): read the view again and redraw, soon. */
  changed(latest?: string): void {
    if (this.#ended) return;
    if (latest !== undefined) this.#latest = latest;
    this.#dirty = true;
    if (this.#timer || this.#loading) return;
    const wait = Math.max(0, this.#lastDraw + 1000 / REDRAWS_PER_SECOND - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#refresh();
    }, wait);
    this.#timer.unref?.();
  }

  async #refresh(): Promise<void> {
    this.#dirty = false;
    this.#loading = this.#load().then(
      (view) => {
        if (view) this.#view = view;
      },
      () => undefined,
    );
    await this.#loading;
    this.#loading = undefined;
    this.#draw();
    if (this.#dirty) this.changed();
  }

  #draw(): void {
    if (this.#ended || !this.#view) return;
    this.#lastDraw = Date.now();
    const frame = renderFrame(this.#view, {
      now: Date.now(),
      colour: this.#terminal.colour,
      columns: this.#terminal.columns(),
      ...(this.#latest !== undefined ? { latest: this.#latest } : {}),
      ...(this.#doing !== undefined ? { doing: this.#doing } : {}),
    });
    // The same frame again would only make the terminal flicker.
    if (frame.join("\n") === this.#shown) return;
    this.#shown = frame.join("\n");
    this.#terminal.screen.draw(frame);
  }

  /** Draws the last frame (from `view` when given) and leaves it on the screen. */
  end(view?: StackStatusView): void {
    if (this.#ended) return;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#tick) clearInterval(this.#tick);
    if (view) this.#view = view;
    this.#latest = undefined;
    this.#draw();
    this.#ended = true;
    this.#terminal.screen.release();
  }
}
