import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { DATE_TIME } from "../../src/api/json-schema.ts";
import { openApiDocument } from "../../src/api/openapi.ts";

/**
 * Checks every answer an API test receives against the OpenAPI document the API serves: the
 * route (path and method) must be declared, the status declared for it, the content type one it
 * declares for that status, and a JSON body must validate (ajv, JSON Schema 2020-12) against the
 * schema declared there. A mismatch throws {@link OpenApiMismatch}, which fails the test that made
 * the request. Wired into every client the API tests use: `checkedFetch` (a drop-in `fetch`, used
 * by test/integration/api/api-server.ts and the tests that call `teamstack serve` directly), and
 * `checkLambdaAnswer` for the Lambda handler.
 *
 * Some answers need no declared route, each with the Error body (the document's info says so): a
 * path the API does not have answers 404, a method a path does not take 405, and any path 401 for
 * an Authorization header that is not a valid bearer token and 413 for a body too large; OPTIONS
 * on a path of the API answers 204 without a body. The console's files (`/`, `/assets/*`) are not
 * part of the API and are not checked (a JSON refusal there must be an Error body). A `text/event-stream` answer is checked for its route,
 * status and content type; its body is not read.
 */

interface OpenApiDoc {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
}
interface Operation {
  readonly responses: Readonly<Record<string, { readonly content?: Readonly<Record<string, unknown>> }>>;
}

/**
 * Statuses any path may answer with the Error body, before its route is looked for: an
 * Authorization header that is not a valid bearer token (401), a body too large (413).
 */
const FRONT_DOOR: readonly number[] = [401, 413];

/** What one exchange was: enough to find its route and check the answer. */
export interface Exchange {
  readonly method: string;
  /** The request's path, with its query string if any. */
  readonly path: string;
  readonly status: number;
  /** The answer's Content-Type header, if any. */
  readonly contentType: string | undefined;
  /** The answer's body (not read for a `text/event-stream`). */
  readonly body: string | undefined;
}

/** An answer the OpenAPI document does not describe. */
export class OpenApiMismatch extends Error {
  constructor(exchange: Exchange, what: string) {
    const body = exchange.body === undefined ? "" : `\n  body: ${exchange.body.slice(0, 600)}`;
    super(`${exchange.method} ${exchange.path} answered ${exchange.status}: ${what}${body}`);
    this.name = "OpenApiMismatch";
  }
}

const pointer = (...segments: string[]) =>
  segments.map((s) => `/${encodeURIComponent(s.replace(/~/g, "~0").replace(/\//g, "~1"))}`).join("");

/** Whether a path is one of a path template's, as the router matches it (a parameter must decode). */
function matches(template: string, path: string): boolean {
  const want = template.split("/");
  const got = path.split("/");
  return (
    want.length === got.length &&
    want.every((w, i) => {
      const g = got[i] as string;
      if (!w.startsWith("{")) return w === g;
      try {
        decodeURIComponent(g);
        return true;
      } catch {
        return false;
      }
    })
  );
}

/** The checks of one OpenAPI document, compiled once per schema used. */
export class OpenApiChecker {
  readonly #doc: OpenApiDoc;
  readonly #ajv: Ajv2020;
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #paths: readonly string[];

  constructor(doc: unknown) {
    this.#doc = doc as OpenApiDoc;
    // Not strict: the document's own keywords (openapi, info, paths, example) sit around the schemas.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    this.#ajv.addFormat("date-time", DATE_TIME);
    this.#ajv.addSchema(doc as object, "openapi.json");
    this.#paths = Object.keys(this.#doc.paths);
  }

  /** @throws OpenApiMismatch when the document does not describe the answer. */
  check(x: Exchange): void {
    const rawPath = x.path.split("?", 1)[0] as string;
    const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, "") : rawPath;
    const method = x.method.toUpperCase() === "HEAD" ? "get" : x.method.toLowerCase();
    const templates = this.#paths.filter((t) => matches(t, path));
    if (templates.length === 0 && (path === "/" || path.startsWith("/assets/"))) {
      // The console's files are not the API's; a refusal there (404, 405) is the API's Error body.
      if ((x.contentType ?? "").startsWith("application/json"))
        this.#checkBody(x, "#/components/schemas/Error");
      return;
    }
    // Answered at the door, before a route is looked for (the document's info says so).
    if (FRONT_DOOR.includes(x.status) && !this.#declares(templates, method, x.status)) {
      this.#checkBody(x, "#/components/schemas/Error");
      return;
    }
    if (templates.length === 0) {
      if (x.status !== 404) throw new OpenApiMismatch(x, `no route of /openapi.json matches ${path}`);
      this.#checkBody(x, "#/components/schemas/Error");
      return;
    }
    // A CORS preflight on a path of the API: 204, no body (the document's info says so).
    if (method === "options" && x.status === 204) {
      if (x.body) throw new OpenApiMismatch(x, "an answer to OPTIONS has a body");
      return;
    }
    const template = templates.find((t) => this.#doc.paths[t]?.[method] !== undefined);
    const operation = template === undefined ? undefined : this.#doc.paths[template]?.[method];
    if (template === undefined || operation === undefined) {
      if (x.status === 405) {
        this.#checkBody(x, "#/components/schemas/Error");
        return;
      }
      throw new OpenApiMismatch(
        x,
        `/openapi.json declares no ${method.toUpperCase()} for ${templates.join(", ")}`,
      );
    }
    const { responses } = operation;
    const declared = responses[String(x.status)];
    if (!declared) {
      throw new OpenApiMismatch(
        x,
        `status ${x.status} is not declared for ${method.toUpperCase()} ${template} (declared: ${Object.keys(responses).join(", ")})`,
      );
    }
    if (!declared.content) {
      if (x.body) throw new OpenApiMismatch(x, "the answer has a body where none is declared");
      return;
    }
    const media = (x.contentType ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
    if (!Object.hasOwn(declared.content, media)) {
      throw new OpenApiMismatch(
        x,
        `content type \`${media}\` is not declared (declared: ${Object.keys(declared.content).join(", ")})`,
      );
    }
    if (media !== "application/json") return;
    this.#checkBody(
      x,
      `openapi.json#${pointer("paths", template, method, "responses", String(x.status), "content", media, "schema")}`,
    );
  }

  #declares(templates: readonly string[], method: string, status: number): boolean {
    return templates.some((t) => this.#doc.paths[t]?.[method]?.responses[String(status)] !== undefined);
  }

  #checkBody(x: Exchange, ref: string): void {
    if (x.method.toUpperCase() === "HEAD") {
      if (x.body) throw new OpenApiMismatch(x, "an answer to HEAD has a body");
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(x.body ?? "");
    } catch {
      throw new OpenApiMismatch(x, "the body is not JSON");
    }
    const id = ref.startsWith("#") ? `openapi.json${ref}` : ref;
    let validate = this.#validators.get(id);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: id });
      this.#validators.set(id, validate);
    }
    if (!validate(value)) {
      const errors = (validate.errors ?? [])
        .slice(0, 8)
        .map(
          (e) =>
            `${e.instancePath || "(body)"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`,
        );
      throw new OpenApiMismatch(x, `the body does not fit its schema:\n  ${errors.join("\n  ")}`);
    }
  }
}

/** The checker of the document the code builds (what the Lambda handler and `serve` serve). */
let built: OpenApiChecker | undefined;
export function builtChecker(): OpenApiChecker {
  built ??= new OpenApiChecker(openApiDocument());
  return built;
}

/** Checkers of the documents servers serve, by origin: each fetched once from /openapi.json. */
const served = new Map<string, Promise<OpenApiChecker>>();
function servedChecker(origin: string): Promise<OpenApiChecker> {
  let checker = served.get(origin);
  if (!checker) {
    checker = (async () => {
      const res = await fetch(`${origin}/openapi.json`);
      if (res.status !== 200) throw new Error(`${origin}/openapi.json answered ${res.status}`);
      return new OpenApiChecker(await res.json());
    })();
    served.set(origin, checker);
    // A server that failed to answer is asked again next time.
    checker.catch(() => served.delete(origin));
  }
  return checker;
}

/**
 * `fetch`, then the answer checked against the /openapi.json its server serves.
 * @throws OpenApiMismatch when the document does not describe the answer.
 */
export async function checkedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const url = new URL(String(input));
  const res = await fetch(url, init);
  const contentType = res.headers.get("content-type") ?? undefined;
  const streams = contentType?.startsWith("text/event-stream") === true;
  const exchange: Exchange = {
    method: init.method ?? "GET",
    path: `${url.pathname}${url.search}`,
    status: res.status,
    contentType,
    body: streams ? undefined : await res.clone().text(),
  };
  (await servedChecker(url.origin)).check(exchange);
  return res;
}

/**
 * Checks an answer of the Lambda handler (API Gateway's payload 2.0 event and result) against the
 * document it serves (built by the same code, `openApiDocument()`).
 * @throws OpenApiMismatch when the document does not describe the answer.
 */
export function checkLambdaAnswer<R extends { readonly statusCode: number; readonly body?: string }>(
  event: {
    readonly rawPath: string;
    readonly requestContext: { readonly http: { readonly method: string } };
  },
  result: R & { readonly headers?: Readonly<Record<string, string>> },
): R {
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  );
  builtChecker().check({
    method: event.requestContext.http.method,
    path: event.rawPath,
    status: result.statusCode,
    contentType: headers["content-type"],
    body: result.body,
  });
  return result;
}

/**
 * Checks an answer of the router called directly (`handleRequest`) against the document the code
 * builds.
 * @throws OpenApiMismatch when the document does not describe the answer.
 */
export function checkRouterAnswer<R extends { readonly status: number; readonly body: string }>(
  request: { readonly method: string; readonly path: string },
  answer: R & { readonly headers: Readonly<Record<string, string>> },
): R {
  builtChecker().check({
    method: request.method,
    path: request.path,
    status: answer.status,
    contentType: answer.headers["content-type"],
    body: answer.body,
  });
  return answer;
}
