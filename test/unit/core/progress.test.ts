import { describe, expect, it } from "vitest";
import { formatDuration, type ProgressView, stackProgress } from "../../../src/core/progress.ts";

type ServerView = ProgressView["servers"][number];

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();

function server(name: string, over: Partial<ServerView> = {}): ServerView {
  return {
    name,
    status: "PENDING",
    provider: "aws",
    dependsOn: [],
    startedAt: null,
    readyAt: null,
    error: null,
    change: null,
    ...over,
  };
}

function view(servers: ServerView[], over: Partial<ProgressView> = {}): ProgressView {
  return { status: "RUNNING", startedAt: at(0), finishedAt: null, servers, hooks: [], ...over };
}

describe("stackProgress", () => {
  it("says what each server waits for and how deep it sits", () => {
    const p = stackProgress(
      view([
        server("mysql", { status: "CREATING", startedAt: at(1) }),
        server("php", { status: "WAITING", dependsOn: ["mysql"] }),
        server("devrim", { status: "PENDING", dependsOn: ["mysql", "php"] }),
      ]),
      T0 + 5000,
    );
    expect(p.servers.map((s) => [s.name, s.state, s.waitsFor, s.depth, s.elapsedMs])).toEqual([
      ["mysql", "CREATING", [], 0, 4000],
      ["php", "WAITING", ["mysql"], 1, null],
      ["devrim", "PENDING", ["mysql", "php"], 2, null],
    ]);
    expect(p.elapsedMs).toBe(5000);
    expect(p.ready).toBe(0);
    expect(p.total).toBe(3);
  });

  it("leaves ready dependencies out of what a server waits for, and gives the time a ready one took", () => {
    const p = stackProgress(
      view([
        server("mysql", { status: "SUCCEEDED", startedAt: at(1), readyAt: at(11) }),
        server("php", { status: "CREATING", dependsOn: ["mysql"], startedAt: at(11) }),
      ]),
      T0 + 14_000,
    );
    expect(p.servers[0]).toMatchObject({ finished: true, elapsedMs: 10_000, waitsFor: [] });
    expect(p.servers[1]).toMatchObject({ finished: false, elapsedMs: 3000, waitsFor: [] });
    expect(p.ready).toBe(1);
  });

  it("estimates from finished servers along the critical path", () => {
    // mysql took 10 s; php and devrim (aws too) are expected to take as long, after mysql.
    // a (sim) waits for nothing and its provider's servers took 2 s.
    const p = stackProgress(
      view([
        server("mysql", { status: "SUCCEEDED", startedAt: at(0), readyAt: at(10) }),
        server("cache", { status: "CREATING", startedAt: at(10), dependsOn: ["mysql"] }),
        server("php", { status: "PENDING", dependsOn: ["cache"] }),
        server("devrim", { status: "PENDING", dependsOn: ["mysql"] }),
        server("s1", { provider: "sim", status: "SUCCEEDED", startedAt: at(0), readyAt: at(2) }),
        server("s2", { provider: "sim", status: "PENDING", dependsOn: ["s1"] }),
      ]),
      T0 + 14_000,
    );
    // cache: started at 10, 10 s expected: ready at 20; php after it: 30; devrim: 14 + 10 = 24; s2: 16.
    const expected = Object.fromEntries(p.servers.map((s) => [s.name, s.expectedReadyAt]));
    expect(expected).toEqual({
      mysql: null,
      cache: at(20),
      php: at(30),
      devrim: at(24),
      s1: null,
      s2: at(16),
    });
    expect(p.estimate).toEqual({
      readyAt: at(30),
      remainingMs: 16_000,
      criticalPath: ["cache", "php"],
      basis: "finished",
    });
  });

  it("counts a server running longer than expected as ending now", () => {
    const p = stackProgress(
      view([
        server("a", { status: "SUCCEEDED", startedAt: at(0), readyAt: at(2) }),
        server("b", { status: "CREATING", startedAt: at(2), dependsOn: ["a"] }),
        server("c", { status: "PENDING", dependsOn: ["b"] }),
      ]),
      T0 + 60_000,
    );
    expect(p.estimate).toMatchObject({ readyAt: at(62), remainingMs: 2000, criticalPath: ["b", "c"] });
  });

  it("uses the provider's typical time when no server has finished, and is null without one", () => {
    const servers = [
      server("mysql", { status: "CREATING", startedAt: at(0) }),
      server("php", { dependsOn: ["mysql"] }),
    ];
    expect(stackProgress(view(servers), T0 + 1000).estimate).toBeNull();
    const p = stackProgress(view(servers), T0 + 1000, {
      typicalMs: (provider) => (provider === "aws" ? 30_000 : undefined),
    });
    expect(p.estimate).toEqual({
      readyAt: at(60),
      remainingMs: 59_000,
      criticalPath: ["mysql", "php"],
      basis: "typical",
    });
  });

  it("has no estimate when the stack is not running or a server failed", () => {
    const done = [
      server("a", { status: "SUCCEEDED", startedAt: at(0), readyAt: at(2) }),
      server("b", { status: "SUCCEEDED", startedAt: at(2), readyAt: at(4), dependsOn: ["a"] }),
    ];
    const finished = stackProgress(view(done, { status: "SUCCEEDED", finishedAt: at(5) }), T0 + 99_000);
    expect(finished.estimate).toBeNull();
    expect(finished.elapsedMs).toBe(5000);
    const failed = stackProgress(
      view([
        server("a", { status: "SUCCEEDED", startedAt: at(0), readyAt: at(2) }),
        server("b", { status: "FAILED", startedAt: at(2), error: "boom" }),
        server("c", { status: "PENDING", dependsOn: ["a"] }),
      ]),
      T0 + 3000,
    );
    expect(failed.estimate).toBeNull();
    expect(failed.servers.every((s) => s.expectedReadyAt === null)).toBe(true);
  });

  it("leaves servers an update removes out of the count and of what others wait for", () => {
    const p = stackProgress(
      view([
        server("old", { status: "SUCCEEDED", change: "removing", startedAt: at(0), readyAt: at(3) }),
        server("new", { status: "PENDING", dependsOn: ["old"] }),
      ]),
      T0 + 4000,
    );
    expect(p.total).toBe(1);
    expect(p.servers[1]?.waitsFor).toEqual([]);
    expect(p.estimate).toMatchObject({ readyAt: at(7), criticalPath: ["new"] });
  });

  it("ignores dependencies the view does not hold and stays finite on a cycle", () => {
    const p = stackProgress(
      view([server("a", { dependsOn: ["b", "ghost"] }), server("b", { dependsOn: ["a"] })]),
      T0,
      { typicalMs: () => 1000 },
    );
    expect(p.servers.map((s) => s.waitsFor)).toEqual([["b"], ["a"]]);
    expect(p.estimate).toBeNull();
  });

  it("marks the running hook", () => {
    const p = stackProgress(
      view([], {
        hooks: [
          { phase: "pre", index: 0, type: "add_github_user", status: "SUCCEEDED" },
          { phase: "post", index: 0, type: "run_script", status: "RUNNING" },
        ],
      }),
      T0,
    );
    expect(p.hooks.map((h) => [h.type, h.running])).toEqual([
      ["add_github_user", false],
      ["run_script", true],
    ]);
  });

  it("accepts a Date and an ISO time for now", () => {
    const v = view([server("a", { status: "CREATING", startedAt: at(0) })]);
    expect(stackProgress(v, new Date(T0 + 2000)).servers[0]?.elapsedMs).toBe(2000);
    expect(stackProgress(v, at(3)).servers[0]?.elapsedMs).toBe(3000);
  });
});

describe("formatDuration", () => {
  it("writes durations for people", () => {
    expect([850, 12_400, 185_000, 3_720_000].map(formatDuration)).toEqual([
      "850ms",
      "12s",
      "3m 05s",
      "1h 02m",
    ]);
  });
});
