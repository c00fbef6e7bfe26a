import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { MiddlewareObj } from "@middy/core";

/**
 * The functions' one Powertools logger: service `teamstack` (POWERTOOLS_SERVICE_NAME says the same
 * in AWS), level from POWERTOOLS_LOG_LEVEL (default INFO), JSON lines with the Lambda context.
 */
export const logger = new Logger({ serviceName: "teamstack" });

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
 * The middlewares every handler uses (`.use(lambdaLogging())`): the Lambda context on every log
 * line, the event never logged whole (even when POWERTOOLS_LOGGER_LOG_EVENT is set), its keys at
 * DEBUG, and a failed invocation's error (name, message, stack) at ERROR before it is rethrown.
 */
export function lambdaLogging(): MiddlewareObj[] {
  return [
    injectLambdaContext(logger, { logEvent: false, resetKeys: true }),
    {
      before: (request) => {
        logger.debug("invocation", eventKeys(request.event));
      },
      onError: (request) => {
        logger.error("invocation failed", request.error as Error);
      },
    },
  ];
}
