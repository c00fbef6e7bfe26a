import middy from "@middy/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { eventKeys, type FunctionLogger, lambdaLogging, logger } from "../../../lambdas/shared/logger.ts";

const CANARY = "canary-value-7f3a";

function recording(): FunctionLogger & { lines: { level: string; message: string; detail?: unknown }[] } {
  const lines: { level: string; message: string; detail?: unknown }[] = [];
  return {
    lines,
    debug: (message, detail) => lines.push({ level: "debug", message, detail }),
    error: (message, error) => lines.push({ level: "error", message, detail: error }),
  };
}

const context = { awsRequestId: "req-1", getRemainingTimeInMillis: () => 10_000 } as never;

describe("lambdaLogging", () => {
  afterEach(() => vi.restoreAllMocks());

  it("logs an invocation's keys at DEBUG, never its values", async () => {
    const log = recording();
    const handler = middy()
      .use(lambdaLogging(log))
      .handler(async () => "ok");
    const event = {
      headers: { authorization: `Bearer ${CANARY}` },
      detail: { token: CANARY, member: "ana" },
    };
    await expect(handler(event, context)).resolves.toBe("ok");
    expect(log.lines).toEqual([
      {
        level: "debug",
        message: "invocation",
        detail: { eventKeys: ["detail", "headers"], detailKeys: ["member", "token"] },
      },
    ]);
    expect(JSON.stringify(log.lines)).not.toContain(CANARY);
  });

  it("logs a failed invocation's error at ERROR and rethrows it", async () => {
    const log = recording();
    const boom = new TypeError("no such stack");
    const handler = middy()
      .use(lambdaLogging(log))
      .handler(async () => {
        throw boom;
      });
    await expect(handler({}, context)).rejects.toBe(boom);
    expect(log.lines.at(-1)).toEqual({ level: "error", message: "invocation failed", detail: boom });
  });

  it("turns a thrown non-Error into an Error for the log", async () => {
    const log = recording();
    const handler = middy()
      .use(lambdaLogging(log))
      .handler(async () => {
        throw "plain text";
      });
    await expect(handler({}, context)).rejects.toBe("plain text");
    const logged = log.lines.at(-1)?.detail;
    expect(logged).toBeInstanceOf(Error);
    expect((logged as Error).message).toBe("plain text");
  });

  it("writes through console, which Lambda's JSON log format turns into one object per line", () => {
    const debug = vi.spyOn(console, "debug").mockImplementation(() => {});
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    logger.debug("invocation", { eventKeys: ["a"] });
    logger.debug("plain");
    const e = new Error("x");
    logger.error("invocation failed", e);
    expect(debug.mock.calls).toEqual([['invocation {"eventKeys":["a"]}'], ["plain"]]);
    expect(error.mock.calls).toEqual([["invocation failed", e]]);
  });

  it("reads no keys of what is not an object", () => {
    expect(eventKeys(null)).toEqual({ eventKeys: [] });
    expect(eventKeys("text")).toEqual({ eventKeys: [] });
    expect(eventKeys({ a: 1, detail: null })).toEqual({ eventKeys: ["a", "detail"] });
  });
});
