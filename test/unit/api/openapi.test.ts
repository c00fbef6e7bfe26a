import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, expectTypeOf, it } from "vitest";
import { checkSchema, type Infer, type Schema, unsafeJson } from "../../../src/api/json-schema.ts";
import { openApiDocument, routeKey } from "../../../src/api/openapi.ts";
import { ROUTES } from "../../../src/api/routes.ts";
import { ROUTE_EXAMPLES } from "../../../src/api/schemas-examples.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";
import { builtChecker, type Exchange, OpenApiChecker } from "../../support/openapi-check.ts";

const doc = openApiDocument("http://127.0.0.1:8080") as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
};
const json = (method: string, path: string, status: number, body: unknown): Exchange => ({
  method,
  path,
  status,
  contentType: "application/json",
  body: JSON.stringify(body),
});

describe("the OpenAPI document", () => {
  it("validates as OpenAPI 3.1", async () => {
    expect(await new Validator().validate(doc as never)).toEqual({ valid: true });
  });

  it("has an example of every route's answer and request body, each fitting its schemas", () => {
    const checker = builtChecker();
    for (const r of ROUTES) {
      const key = routeKey(r);
      const example = ROUTE_EXAMPLES[key];
      expect(example, `${key} has no example in src/api/schemas-examples.ts`).toBeDefined();
      if (!example) continue;
      expect(checkSchema(example.response, r.response, key)).toBeUndefined();
      const path = r.path.replace(/\{\w+\}/g, "x1");
      const answer = r.eventStream
        ? { ...json(r.method, path, r.success, undefined), contentType: "text/event-stream", body: undefined }
        : json(r.method, path, r.success, example.response);
      expect(() => checker.check(answer)).not.toThrow();
      if (r.body === "yaml") {
        expect(loadTemplate(example.request as string, "example.yaml", PROVIDERS).problems).toEqual([]);
      } else if (r.body !== undefined) {
        expect(example.request, `${key} takes a body: its example has none`).toBeDefined();
        expect(unsafeJson(example.request) ?? checkSchema(example.request, r.body, key)).toBeUndefined();
      }
    }
    // No example is left over from a route that is gone.
    expect(Object.keys(ROUTE_EXAMPLES).sort()).toEqual(ROUTES.map(routeKey).sort());
  });

  it("publishes the examples beside the schemas", () => {
    const get = doc.paths["/teams/{team}/stacks/{id}"]?.get?.responses["200"] as {
      content: Record<string, { example: unknown; schema: unknown }>;
    };
    expect(get.content["application/json"]?.schema).toEqual({ $ref: "#/components/schemas/StackStatus" });
    expect(get.content["application/json"]?.example).toBe(
      ROUTE_EXAMPLES["GET /teams/{team}/stacks/{id}"]?.response,
    );
  });

  it("describes every answer in full: every object names its properties or what its values are", () => {
    const loose: string[] = [];
    const walk = (s: unknown, where: string): void => {
      if (s === null || typeof s !== "object") return;
      const o = s as Record<string, unknown>;
      if (o.type === "object" && o.properties === undefined && typeof o.additionalProperties !== "object")
        loose.push(where);
      for (const [k, v] of Object.entries(o)) if (k !== "example") walk(v, `${where}.${k}`);
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (path === "/openapi.json") continue;
      for (const [method, op] of Object.entries(ops)) walk(op.responses, `${method} ${path}`);
    }
    walk(doc.components.schemas, "components");
    expect(loose).toEqual([]);
  });

  it("declares 401 on every route that needs a token and 500 and 503 on all", () => {
    for (const r of ROUTES) {
      const declared = Object.keys(doc.paths[r.path]?.[r.method.toLowerCase()]?.responses ?? {});
      expect(declared, routeKey(r)).toEqual(expect.arrayContaining(["500", "503"]));
      if (r.auth) expect(declared, routeKey(r)).toContain("401");
    }
  });
});

describe("the answer checker", () => {
  const checker = new OpenApiChecker(doc);
  const published = { name: "web", version: 1, hash: "a".repeat(64) };

  it("passes an answer the document describes", () => {
    expect(() => checker.check(json("PUT", "/teams/acme/templates/web", 201, published))).not.toThrow();
    expect(() => checker.check(json("PUT", "/teams/acme/templates/web?x=1", 200, published))).not.toThrow();
    expect(() =>
      checker.check(json("GET", "/teams/acme/stacks/st-1", 404, { error: "NotFound", message: "no" })),
    ).not.toThrow();
    expect(() =>
      checker.check({
        method: "HEAD",
        path: "/teams/acme/stacks",
        status: 200,
        contentType: "application/json",
        body: "",
      }),
    ).not.toThrow();
  });

  it("passes API Gateway's own 401 and 429 bodies, which the deployed API answers with", () => {
    const gateway = (status: number, message: string) =>
      json("GET", "/teams/acme/stacks", status, { message });
    expect(() => checker.check(gateway(401, "Unauthorized"))).not.toThrow();
    expect(() => checker.check(gateway(429, "Too Many Requests"))).not.toThrow();
    expect(() => checker.check(gateway(403, "Forbidden"))).toThrow(/required property 'error'/);
  });

  it("fails a status the route does not declare", () => {
    expect(() => checker.check(json("PUT", "/teams/acme/templates/web", 202, published))).toThrow(
      /status 202 is not declared for PUT \/teams\/\{team\}\/templates\/\{name\}/,
    );
  });

  it("fails a body with an unknown field, a missing one, or a wrong type, naming where", () => {
    expect(() =>
      checker.check(json("PUT", "/teams/acme/templates/web", 201, { ...published, extra: 1 })),
    ).toThrow(/must NOT have additional properties.*extra/);
    expect(() =>
      checker.check(json("PUT", "/teams/acme/templates/web", 201, { name: "web", version: 1 })),
    ).toThrow(/must have required property 'hash'/);
    expect(() =>
      checker.check(json("GET", "/teams/acme/stacks", 200, [{ stackId: "st-1", status: "SLEEPING" }])),
    ).toThrow(/\/0\/status must be equal to one of the allowed values/);
    expect(() =>
      checker.check(json("GET", "/teams/acme/stacks/st-1", 500, { error: "InternalError", message: 42 })),
    ).toThrow(/\/message must be string/);
    expect(() =>
      checker.check(
        json("GET", "/teams/acme/templates", 200, [
          { ...published, latest: 1, default: false, updatedAt: "yesterday" },
        ]),
      ),
    ).toThrow(/updatedAt must match format "date-time"/);
  });

  it("fails an undeclared route, method or content type, and a body where none is declared", () => {
    expect(() => checker.check(json("GET", "/teams/acme/nothing", 200, {}))).toThrow(/no route .* matches/);
    expect(() => checker.check(json("PATCH", "/teams/acme/stacks", 200, {}))).toThrow(/declares no PATCH/);
    expect(() =>
      checker.check({
        ...json("PUT", "/teams/acme/templates/web", 201, published),
        contentType: "text/plain",
      }),
    ).toThrow(/content type `text\/plain` is not declared/);
    expect(() => checker.check(json("GET", "/teams/acme/stacks", 304, []))).toThrow(
      /a body where none is declared/,
    );
    // The router's own answers to such requests are its Error body.
    expect(() =>
      checker.check(json("PATCH", "/teams/acme/stacks", 405, { error: "MethodNotAllowed", message: "m" })),
    ).not.toThrow();
    expect(() => checker.check(json("GET", "/nope", 404, { oops: true }))).toThrow(
      /required property 'error'/,
    );
  });

  it("passes a CORS preflight's 204 without a body on a path of the API, and nothing else there", () => {
    const preflight = { method: "OPTIONS", path: "/teams/acme/stacks", status: 204, contentType: undefined };
    expect(() => checker.check({ ...preflight, body: "" })).not.toThrow();
    expect(() => checker.check({ ...preflight, body: "{}" })).toThrow(/OPTIONS has a body/);
    expect(() => checker.check({ ...preflight, path: "/nowhere", body: "" })).toThrow(/no route/);
  });

  it("passes the event stream only as text/event-stream, which serve alone answers", () => {
    const stream = doc.paths["/teams/{team}/stream"]?.get?.responses as Record<
      string,
      { content?: Record<string, unknown> }
    >;
    expect(Object.keys(stream["200"]?.content ?? {})).toEqual(["text/event-stream"]);
    expect(stream["304"]).toBeUndefined();
    const answer = { method: "GET", path: "/teams/acme/stream", status: 200, body: undefined };
    expect(() => checker.check({ ...answer, contentType: "text/event-stream; charset=utf-8" })).not.toThrow();
    expect(() => checker.check({ ...answer, contentType: "application/json", body: "{}" })).toThrow(
      /content type `application\/json` is not declared/,
    );
    // A refused stream is the Error body; too many streams of one member too.
    expect(() =>
      checker.check(json("GET", "/teams/acme/stream", 429, { error: "TooManyStreams", message: "m" })),
    ).not.toThrow();
  });

  it("passes the console's files unchecked, but a JSON refusal there must be the Error body", () => {
    const file = { method: "GET", path: "/assets/app-X.js", status: 200, contentType: "text/javascript" };
    expect(() => checker.check({ ...file, body: "x()" })).not.toThrow();
    expect(() => checker.check(json("GET", "/assets/app-NOPE.js", 404, { oops: 1 }))).toThrow(
      /required property 'error'/,
    );
  });
});

describe("the schema checker's new keywords", () => {
  const status: Schema = { type: "string", enum: ["RUNNING", "STOPPED"] };
  const maybe: Schema = { oneOf: [{ type: "string", format: "date-time" }, { type: "null" }] };

  it("checks enum, null and date-time as ajv does", () => {
    expect(checkSchema("RUNNING", status)).toBeUndefined();
    expect(checkSchema("SLEEPING", status)).toBe("body: `SLEEPING` is not one of RUNNING, STOPPED");
    expect(checkSchema(null, maybe)).toBeUndefined();
    expect(checkSchema("2026-03-01T08:30:00.000Z", maybe)).toBeUndefined();
    expect(checkSchema("2026-03-01T08:30:00+02:00", maybe)).toBeUndefined();
    expect(checkSchema("March 1st", maybe)).toMatch(/expected string or null/);
    expect(checkSchema(0, { type: "null" })).toBe("body: expected null");
  });
});

describe("Infer", () => {
  it("reads a schema's TypeScript type: required, optional, null, enum, list and record", () => {
    const schema = {
      type: "object",
      properties: {
        id: { type: "string" },
        state: { type: "string", enum: ["RUNNING", "STOPPED"] },
        at: { oneOf: [{ type: "string", format: "date-time" }, { type: "null" }] },
        tags: { type: "array", items: { type: "integer" } },
        data: { type: "object", additionalProperties: { type: "string" } },
        ok: { type: "boolean" },
      },
      required: ["id", "state", "at", "tags", "data"],
      additionalProperties: false,
    } as const satisfies Schema;
    expectTypeOf<Infer<typeof schema>>().toEqualTypeOf<{
      readonly id: string;
      readonly state: "RUNNING" | "STOPPED";
      readonly at: string | null;
      readonly tags: readonly number[];
      readonly data: { readonly [key: string]: string };
      readonly ok?: boolean;
    }>();
  });
});
