import middy from "@middy/core";
import { openApiDocument } from "../../src/api/openapi.ts";
import { type ApiResponse, handleRequest } from "../../src/api/router.ts";
import { lambdaLogging, logger } from "../shared/logger.ts";
import { buildAwsService } from "../shared/service.ts";

/**
 * The HTTP API behind API Gateway (HTTP API, payload 2.0). API Gateway's JWT authorizer has
 * verified the token; its claims arrive in the request context.
 */
export interface HttpApiEvent {
  readonly rawPath: string;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>>;
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: {
    readonly http: { readonly method: string };
    readonly authorizer?: { readonly jwt?: { readonly claims?: Readonly<Record<string, unknown>> } };
  };
}

export interface HttpApiResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const service = buildAwsService();
const openapi = openApiDocument();

/**
 * Serves one API Gateway request with the same handler `teamstack serve` runs. `requestId`
 * (Lambda's) is the one a failure's answer quotes and the log records.
 */
export async function serveHttpApi(event: HttpApiEvent, requestId?: string): Promise<HttpApiResult> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, "base64").toString("utf8")
        : event.body;
  const out: ApiResponse = await handleRequest(
    {
      method: event.requestContext.http.method,
      path: event.rawPath,
      ...(event.queryStringParameters ? { query: event.queryStringParameters } : {}),
      headers,
      body,
      claims: event.requestContext.authorizer?.jwt?.claims,
    },
    {
      service,
      openapi: () => openapi,
      ...(requestId ? { requestId } : {}),
      onError: (e, id) =>
        logger.error(`request ${id} failed unexpectedly`, e instanceof Error ? e : new Error(String(e))),
    },
  );
  return { statusCode: out.status, headers: out.headers, body: out.body };
}

export const handler = middy<HttpApiEvent, HttpApiResult>()
  .use(lambdaLogging())
  .handler((event, context) => serveHttpApi(event, context?.awsRequestId));
