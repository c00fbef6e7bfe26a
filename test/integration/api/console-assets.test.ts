import { get } from "node:http";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_CSP } from "../../../src/local/console-assets.ts";
import { buildConsole } from "../../../web/build.ts";
import { checkedFetch } from "../../support/openapi-check.ts";
import { startTestApi, type TestApi } from "./api-server.ts";

// `teamstack serve` serves the web console: index.html at / (never cached), content-hashed assets
// at /assets/* (cached for ever), gzip where asked, a strict CSP on each; the API is unchanged.
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

describe("the console served by teamstack serve", () => {
  it("builds index.html loading one hashed script and one hashed stylesheet", async () => {
    const build = await buildConsole();
    const keys = [...build.files.keys()].sort();
    expect(keys).toContain("index.html");
    expect(keys.filter((k) => /^assets\/app-[A-Z0-9]{8}\.js$/.test(k))).toHaveLength(1);
    expect(keys.filter((k) => /^assets\/app-[A-Z0-9]{8}\.css$/.test(k))).toHaveLength(1);
    const html = new TextDecoder().decode(build.files.get("index.html")?.body);
    for (const k of keys.filter((k) => k.startsWith("assets/app-"))) expect(html).toContain(`"${k}"`);
    // No inline script or style: the CSP allows none.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style=/);
  });

  it("answers / with index.html, uncached, behind the CSP", async () => {
    const res = await checkedFetch(`${api.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain("unsafe");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await res.text()).toContain('<div id="app">');
  });

  it("answers each asset cached for ever, gzip-compressed when the client takes it", async () => {
    const html = await (await checkedFetch(`${api.url}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.length).toBe(2);
    for (const asset of assets) {
      const plain = await checkedFetch(`${api.url}/${asset}`, { headers: { "accept-encoding": "identity" } });
      expect(plain.status).toBe(200);
      expect(plain.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(plain.headers.get("content-encoding")).toBeNull();
      const body = Buffer.from(await plain.arrayBuffer());
      // fetch would decompress: read the bytes as sent.
      const raw = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        get(`${api.url}/${asset}`, { headers: { "accept-encoding": "gzip" } }, (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () =>
            resolve({ encoding: r.headers["content-encoding"], body: Buffer.concat(chunks) }),
          );
        }).on("error", reject);
      });
      expect(raw.encoding).toBe("gzip");
      expect(raw.body.length).toBeLessThan(body.length);
      expect(gunzipSync(raw.body).equals(body)).toBe(true);
    }
  });

  it("answers an unknown asset and other methods as the API does (JSON 404 and 405)", async () => {
    const missing = await checkedFetch(`${api.url}/assets/app-NOPE.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "NotFound" });
    const post = await checkedFetch(`${api.url}/`, { method: "POST", body: "{}" });
    expect(post.status).toBeGreaterThanOrEqual(400);
    expect(post.status).toBeLessThan(500);
    expect(await post.json()).toMatchObject({ error: expect.any(String) });
    const head = await checkedFetch(`${api.url}/`, { method: "HEAD" });
    expect(head.status).toBe(200);
  });
});
