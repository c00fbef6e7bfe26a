import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { FACTORY_IMPORTS } from "../src/providers/registry.ts";
import { validatorWorkerPlugin } from "./src/editor/worker-plugin.ts";

/**
 * The web console's build: esbuild bundles web/src/main.tsx (preact, plain CSS) into one
 * content-hashed script (and a chunk per lazily loaded page) and one stylesheet, and writes index.html to load them. Nothing touches
 * the disk: `teamstack serve` serves the files from memory, the CDK app writes them to a bucket.
 */

export interface ConsoleFile {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** Keys: `index.html`, `assets/app-<hash>.js`, `assets/app-<hash>.css`. */
export interface ConsoleBuild {
  readonly files: ReadonlyMap<string, ConsoleFile>;
}

const WEB = import.meta.dirname;
const ASSETS_MARK = "<!-- assets -->";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

function contentType(path: string): string {
  const ext = path.slice(path.lastIndexOf("."));
  const type = CONTENT_TYPES[ext];
  if (!type) throw new Error(`console build: unexpected output ${path}: expected .js or .css`);
  return type;
}

/**
 * Builds the console (minified unless `minify: false`).
 * @throws when a source file does not compile (esbuild's messages, with file:line:column).
 */
export async function buildConsole(options: { readonly minify?: boolean } = {}): Promise<ConsoleBuild> {
  const outdir = join(WEB, "dist", "assets");
  const workers = new Map<string, Uint8Array>();
  const result = await build({
    entryPoints: { app: join(WEB, "src", "main.tsx") },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir,
    entryNames: "[name]-[hash]",
    // Pages loaded with import() (lazyPage) become chunks of their own, off the first page.
    splitting: true,
    chunkNames: "chunk-[hash]",
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: options.minify !== false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
    // The policy page lists the registry's providers; their factories (provider code, SDKs) stay out.
    external: [...FACTORY_IMPORTS],
    plugins: [validatorWorkerPlugin({ minify: options.minify !== false, emit: (p, b) => workers.set(p, b) })],
  });
  const files = new Map<string, ConsoleFile>();
  for (const [key, body] of workers) files.set(key, { body, contentType: contentType(key) });
  const tags: string[] = [];
  for (const out of result.outputFiles) {
    const key = `assets/${relative(outdir, out.path).split("\\").join("/")}`;
    files.set(key, { body: out.contents, contentType: contentType(key) });
    if (!key.startsWith("assets/app-")) continue;
    if (key.endsWith(".css")) tags.push(`<link rel="stylesheet" href="${key}">`);
    else tags.push(`<script type="module" src="${key}"></script>`);
  }
  const template = await readFile(join(WEB, "index.html"), "utf8");
  if (!template.includes(ASSETS_MARK))
    throw new Error(`console build: web/index.html has no ${ASSETS_MARK} line for the assets`);
  const html = template.replace(ASSETS_MARK, tags.sort().join("\n    "));
  files.set("index.html", {
    body: new TextEncoder().encode(html),
    contentType: CONTENT_TYPES[".html"] as string,
  });
  return { files };
}
