import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { handlerFolders, sizeGoalKb, TEMPLATE_READERS } from "../../bench/bundles.ts";
import { esbuildOptions } from "../../infra/constructs/lambda-function.ts";
import { PROJECT_ROOT } from "../../infra/teamstack-stack.ts";

// Compile once: only the functions that read templates carry the YAML parser and the validator.
// Each handler is bundled as the deployment bundles it (in memory), and its inputs are checked.

const YAML_PARSER = /(^|\/)node_modules\/yaml\//;
const VALIDATOR = /(^|\/)src\/core\/validate[^/]*$/;

async function bundle(folder: string): Promise<{ inputs: string[]; kb: number }> {
  const entry = join(PROJECT_ROOT, "lambdas", folder, "handler.ts");
  const result = await build({
    ...esbuildOptions(entry, join(PROJECT_ROOT, "cdk.out", "bundle-test", folder, "index.mjs")),
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const [output] = Object.values(result.metafile.outputs);
  return { inputs: Object.keys(result.metafile.inputs), kb: (output?.bytes ?? 0) / 1024 };
}

describe("the Lambda bundles", () => {
  const folders = handlerFolders(PROJECT_ROOT);

  it("finds the template readers and the eleven task functions besides Prepare", () => {
    for (const reader of TEMPLATE_READERS) expect(folders).toContain(reader);
    expect(folders.filter((f) => !TEMPLATE_READERS.has(f)).length).toBeGreaterThanOrEqual(11);
  });

  it.each(folders.filter((f) => !TEMPLATE_READERS.has(f)))(
    "bundles no YAML parser and no validator into lambdas/%s, and stays under its size goal",
    async (folder) => {
      const { inputs, kb } = await bundle(folder);
      expect(inputs.length).toBeGreaterThan(10);
      expect(inputs.filter((i) => YAML_PARSER.test(i) || VALIDATOR.test(i))).toEqual([]);
      expect(kb).toBeLessThan(sizeGoalKb(folder));
    },
  );

  it("bundles the parser into Prepare, which compiles the template (the check can fail)", async () => {
    const { inputs } = await bundle("prepare");
    expect(inputs.some((i) => YAML_PARSER.test(i))).toBe(true);
    expect(inputs.some((i) => VALIDATOR.test(i))).toBe(true);
  });
});
