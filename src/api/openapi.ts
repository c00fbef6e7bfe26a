import type { Schema } from "./json-schema.ts";
import { ROUTES } from "./routes.ts";

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted: the execution has started",
  400: "Bad request: malformed JSON, unknown fields, bad parameters",
  401: "No valid bearer token",
  403: "Another team's resource, or an admin's work",
  404: "No such resource",
  405: "Method not allowed",
  409: "Conflict: the stack is running, or an idempotency key was reused for another request",
  413: "Body too large",
  422: "Invalid template or unusable request, with every problem",
  410: "Gone: reported already, or by an attempt that was replaced",
  500: "Internal error: a bug; the body's requestId is what to report",
  503: "The store cannot serve requests right now; try again (Retry-After)",
};

function toJsonSchema(s: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.description) out.description = s.description;
  if ("oneOf" in s && s.oneOf) return { ...out, oneOf: s.oneOf.map(toJsonSchema) };
  switch (s.type) {
    case undefined:
      return out;
    case "string":
      return {
        ...out,
        type: "string",
        ...(s.maxLength ? { maxLength: s.maxLength } : {}),
        ...(s.pattern ? { pattern: s.pattern } : {}),
      };
    case "integer":
      return {
        ...out,
        type: "integer",
        ...(s.minimum !== undefined ? { minimum: s.minimum } : {}),
        ...(s.maximum !== undefined ? { maximum: s.maximum } : {}),
      };
    case "boolean":
      return { ...out, type: "boolean" };
    case "array":
      return {
        ...out,
        type: "array",
        items: toJsonSchema(s.items),
        ...(s.maxItems ? { maxItems: s.maxItems } : {}),
      };
    case "object": {
      const props = s.properties
        ? Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toJsonSchema(v)]))
        : undefined;
      return {
        ...out,
        type: "object",
        ...(props ? { properties: props } : {}),
        ...(s.required ? { required: [...s.required] } : {}),
        ...(s.additionalProperties === false
          ? { additionalProperties: false }
          : s.additionalProperties
            ? { additionalProperties: toJsonSchema(s.additionalProperties) }
            : {}),
        ...(s.maxProperties ? { maxProperties: s.maxProperties } : {}),
        ...(s.propertyNames
          ? {
              propertyNames: {
                maxLength: s.propertyNames.maxLength,
                ...(s.propertyNames.pattern ? { pattern: s.propertyNames.pattern } : {}),
              },
            }
          : {}),
      };
    }
  }
}

const ERROR_SCHEMA = {
  type: "object",
  required: ["error", "message"],
  properties: {
    error: { type: "string", description: "A stable code, e.g. NotFound" },
    message: { type: "string", description: "What went wrong and what was expected" },
    requestId: {
      type: "string",
      description: "On a 500 or 503: the id to report; the server's log has the details",
    },
    problems: {
      type: "array",
      items: {
        type: "object",
        required: ["file", "line", "column", "message"],
        properties: {
          file: { type: "string" },
          line: { type: "integer" },
          column: { type: "integer" },
          message: { type: "string" },
        },
      },
    },
  },
};

/** The OpenAPI 3.1 document of the HTTP API, built from the routes the handler serves. */
export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const params: Record<string, unknown>[] = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string", pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$" },
    }));
    if (r.path === "/teams/{team}/stacks" && r.method === "POST") {
      params.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" },
      });
    }
    for (const q of r.query ?? []) {
      params.push({ name: q.name, in: "query", required: false, schema: toJsonSchema(q.schema) });
    }
    const responses: Record<string, unknown> = {
      [r.success]: {
        description: STATUS_TEXT[r.success] ?? "OK",
        content: { "application/json": { schema: toJsonSchema(r.response) } },
      },
    };
    if (r.path === "/teams/{team}/templates/{name}" && r.method === "PUT") {
      responses[200] = {
        description: "The same YAML as the newest version: nothing added",
        content: { "application/json": { schema: toJsonSchema(r.response) } },
      };
    }
    for (const e of [...r.errors, 405, 500, 503]) {
      responses[e] = {
        description: STATUS_TEXT[e] ?? "Error",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[{}]/g, "").replace(/[/.](\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: r.summary,
      ...(params.length > 0 ? { parameters: params } : {}),
      responses,
      ...(r.auth ? {} : { security: [] }),
    };
    if (r.body === "yaml") {
      op.requestBody = { required: true, content: { "application/yaml": { schema: { type: "string" } } } };
    } else if (r.body !== undefined) {
      op.requestBody = {
        required: r.bodyRequired === true,
        content: { "application/json": { schema: toJsonSchema(r.body) } },
      };
    }
    paths[r.path] = { ...(paths[r.path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "teamstack",
      version: "0.1.0",
      description:
        "Give every member of a team their own copy of the team's environment. Every GET also answers HEAD, without the body. Keys `__proto__`, `constructor` and `prototype` are refused (400) anywhere in a JSON body.",
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: { Error: ERROR_SCHEMA },
    },
    paths,
  };
}
