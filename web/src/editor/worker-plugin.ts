import { createHash } from "node:crypto";
import { build, type Plugin } from "esbuild";
import { FACTORY_IMPORTS } from "../../../src/providers/registry.ts";

/** The module the console imports for the validator worker's URL: `import url from "teamstack:validator-worker"`. */
export const VALIDATOR_WORKER_MODULE = "teamstack:validator-worker";

const ENTRY = new URL("./validator-worker.ts", import.meta.url).pathname;

/**
 * An esbuild plugin for the console's build: bundles the validator's Web Worker
 * (validator-worker.ts: the core's validator, the yaml package and the registry's declarations,
 * its providers' factories left out)
 * as a file of its own, `assets/validator-<hash>.js`, hands it to `emit`, and makes
 * `teamstack:validator-worker` a module whose default export is that file's path. The app's own
 * bundle then carries none of the validator.
 */
export function validatorWorkerPlugin(options: {
  readonly minify?: boolean;
  readonly emit: (path: string, body: Uint8Array) => void;
}): Plugin {
  return {
    name: "teamstack-validator-worker",
    setup(b) {
      b.onResolve({ filter: /^teamstack:validator-worker$/ }, (args) => ({
        path: args.path,
        namespace: "teamstack-validator-worker",
      }));
      b.onLoad({ filter: /.*/, namespace: "teamstack-validator-worker" }, async () => {
        const body = await buildValidatorWorker(options.minify ?? true);
        const path = `assets/validator-${createHash("sha256").update(body).digest("hex").slice(0, 12)}.js`;
        options.emit(path, body);
        return { contents: `export default ${JSON.stringify(path)};`, loader: "js" };
      });
    },
  };
}

/**
 * The validator worker's bundle: for the browser, one classic-worker script.
 * @throws when a module it reaches imports a Node built-in (the core must stay pure).
 */
export async function buildValidatorWorker(minify: boolean): Promise<Uint8Array> {
  return (await bundleValidatorWorker(minify)).body;
}

/** The worker's bundle and the files that went into it (for the test that keeps it pure). */
export async function bundleValidatorWorker(
  minify: boolean,
): Promise<{ body: Uint8Array; inputs: readonly string[] }> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify,
    legalComments: "none",
    logLevel: "silent",
    // The registry's declarations come in; the factories they are paired with stay out.
    external: [...FACTORY_IMPORTS],
    metafile: true,
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("esbuild produced no validator worker");
  return { body: file.contents, inputs: Object.keys(out.metafile.inputs) };
}
