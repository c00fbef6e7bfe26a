import type { MiddlewareObj } from "@middy/core";

/**
 * The functions log through `console`, and Lambda does the rest: every function runs with Lambda's
 * JSON log format (infra/constructs/lambda-function.ts), so each line becomes one JSON object with
 * its timestamp, level and request id (an error's type, message and stack besides, when one is
 * logged), and lines below the function's application log level are dropped by Lambda itself.
 * No logging library is bundled (see README, "Design decisions").
 */
export interface FunctionLogger {
  debug(message: string, detail?: unknown): void;
  error(message: string, error: Error): void;
}

/** The one logger of every handler. */
export const logger: FunctionLogger = {
  debug: (message, detail) =>
    detail === undefined ? console.debug(message) : console.debug(`${message} ${JSON.stringify(detail)}`),
  error: (message, error) => console.error(message, error),
};

/**
 * What may be logged of an event: its top-level keys and, for an EventBridge event, the keys of
 * its `detail`. Never values: API bodies carry templates and member data, headers the bearer
 * token, readiness callback paths their signed token.
 */
export function eventKeys(event: unknown): { eventKeys: string[]; detailKeys?: string[] } {
  if (event === null || typeof event !== "object") return { eventKeys: [] };
  const detail = (event as { detail?: unknown }).detail;
  return {
    eventKeys: Object.keys(event).sort(),
    ...(detail !== null && typeof detail === "object" ? { detailKeys: Object.keys(detail).sort() } : {}),
  };
}

/**
 * The middleware every handler uses (`.use(lambdaLogging())`): the event is never logged whole,
 * only its keys at DEBUG, and a failed invocation's error (type, message, stack) is logged at
 * ERROR before it is rethrown.
 */
export function lambdaLogging(log: FunctionLogger = logger): MiddlewareObj {
  return {
    before: (request) => {
      log.debug("invocation", eventKeys(request.event));
    },
    onError: (request) => {
      const e = request.error;
      log.error("invocation failed", e instanceof Error ? e : new Error(String(e)));
    },
  };
}
