import { describe, expect, it } from "vitest";
import {
  ANSI,
  colourAllowed,
  LiveTable,
  renderFrame,
  Screen,
  type Terminal,
} from "../../../src/cli/live-table.ts";
import type { StackStatusView } from "../../../src/pipeline/status.ts";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();

type Server = StackStatusView["servers"][number];
function server(name: string, over: Partial<Server>): Server {
  return {
    name,
    status: "PENDING",
    provider: "sim",
    type: "t3.small",
    dependsOn: [],
    artifacts: {},
    startedAt: null,
    readyAt: null,
    error: null,
    change: null,
    ...over,
  };
}

function view(over: Partial<StackStatusView> = {}): StackStatusView {
  return {
    stackId: "ann-1",
    name: "s",
    team: "local",
    member: "ann",
    template: { name: "s", version: 1, hash: "h" },
    status: "RUNNING",
    run: 1,
    servers: [
      server("mysql", { status: "SUCCEEDED", startedAt: at(0), readyAt: at(4) }),
      server("php", { status: "CREATING", startedAt: at(4), dependsOn: ["mysql"] }),
      server("devrim", { status: "WAITING", provider: "local", dependsOn: ["mysql", "php"] }),
    ],
    hooks: [
      {
        phase: "pre",
        index: 0,
        type: "add_github_user",
        status: "SUCCEEDED",
        output: null,
        exitCode: null,
        error: null,
      },
      {
        phase: "post",
        index: 0,
        type: "run_script",
        status: "PENDING",
        output: null,
        exitCode: null,
        error: null,
      },
    ],
    artifacts: {},
    lock: null,
    startedAt: at(0),
    finishedAt: null,
    error: null,
    ...over,
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are what is looked for
const COLOUR = /\u001b\[[0-9;]*m/;

describe("renderFrame", () => {
  it("shows each server's state, elapsed time and what it waits for, the hooks that ran, and the estimate", () => {
    const lines = renderFrame(view(), {
      now: T0 + 6000,
      colour: false,
      columns: 200,
      latest: "php: creating",
    });
    expect(lines).toEqual([
      "stack ann-1  RUNNING  1/3 ready  6.0s",
      // php: 4 s expected (as mysql took), 2 s in; devrim: 4 s after php.
      "  ready in ~6.0s, critical path php → devrim",
      "  mysql   SUCCEEDED   sim       4.0s",
      "  php     CREATING    sim       2.0s",
      "  devrim  WAITING     local           waits for php",
      "  pre:0   SUCCEEDED   add_github_user",
      "  php: creating",
    ]);
  });

  it("colours states only when asked, and cuts lines to the terminal's width", () => {
    const plain = renderFrame(view(), { now: T0 + 6000, colour: false, columns: 30 });
    expect(plain.some((l) => COLOUR.test(l))).toBe(false);
    expect(plain.every((l) => l.length <= 30)).toBe(true);
    const coloured = renderFrame(view(), { now: T0 + 6000, colour: true, columns: 200 });
    expect(coloured[2]).toContain("\u001b[32mSUCCEEDED");
  });
});

describe("colourAllowed", () => {
  it("says no when NO_COLOR is set to anything", () => {
    expect(colourAllowed({})).toBe(true);
    expect(colourAllowed({ NO_COLOR: "" })).toBe(true);
    expect(colourAllowed({ NO_COLOR: "1" })).toBe(false);
  });
});

describe("Screen", () => {
  it("redraws a frame in place, and prints other text above it", () => {
    let out = "";
    const screen = new Screen((t) => {
      out += t;
    });
    screen.draw(["a", "b"]);
    expect(out).toBe(`${ANSI.clearLine}a\n${ANSI.clearLine}b\n`);
    out = "";
    screen.draw(["c"]);
    expect(out).toBe(`\r${ANSI.up(2)}${ANSI.clearLine}c\n${ANSI.clearDown}`);
    out = "";
    screen.print((t) => {
      out += `[${t}]`;
    }, "note");
    expect(out).toBe(`\r${ANSI.up(1)}${ANSI.clearDown}[note\n]${ANSI.clearLine}c\n`);
    out = "";
    screen.release();
    screen.print((t) => {
      out += t;
    }, "after\n");
    expect(out).toBe("after\n");
  });
});

describe("LiveTable", () => {
  it("draws at most 4 frames a second however many events arrive, and leaves the last one", async () => {
    const frames: string[][] = [];
    const screen = new Screen(() => undefined);
    const draw = screen.draw.bind(screen);
    screen.draw = (frame) => {
      frames.push([...frame]);
      draw(frame);
    };
    const terminal: Terminal = { columns: () => 120, colour: false, screen };
    let loads = 0;
    let loaded!: () => void;
    const firstLoad = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    const table = new LiveTable(terminal, async () => {
      loads++;
      loaded();
      return view();
    });
    await firstLoad;
    const started = Date.now();
    for (let i = 0; i < 200; i++) table.changed(`event ${i}`);
    // A burst of events is drawn once (at most) until a quarter of a second has passed.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const elapsed = Date.now() - started;
    expect(loads).toBeLessThanOrEqual(2 + Math.floor(elapsed / 250));
    table.end(view({ status: "SUCCEEDED", finishedAt: at(9) }));
    const last = frames[frames.length - 1] ?? [];
    expect(last[0]).toBe("stack ann-1  SUCCEEDED  1/3 ready  9.0s");
    expect(screen.active).toBe(false);
    const count = frames.length;
    table.changed("late");
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.length).toBe(count);
  });
});
