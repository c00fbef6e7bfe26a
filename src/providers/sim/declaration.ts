import type { ProviderDeclaration } from "../../core/providers.ts";

/**
 * The `sim` provider's declaration: simulated servers that exist only as records, for dry runs,
 * tests and benchmarks, and where simulated servers of other providers run. Pure.
 */
export const simDeclaration: ProviderDeclaration = {
  name: "sim",
  aliases: [],
  summary: "Simulated servers that exist only as records: dry runs, tests and benchmarks.",
  capabilities: {
    nativeType: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    nativeTypeExample: "t3.micro",
    sizes: {
      describe: "taken as written: a simulated server has no size",
      map: (_size, written) => ({ type: written }),
    },
    options: {
      boot_ms: {
        value: { kind: "integer", min: 0, max: 86_400_000 },
        doc: "Milliseconds from create to ready.",
      },
      fail: {
        value: {
          kind: "oneOf",
          describe: "true, false, once, or a failure rate from 0 to 1",
          choices: [
            { kind: "boolean" },
            { kind: "enum", values: ["once"] },
            { kind: "number", min: 0, max: 1 },
          ],
        },
        doc: "`true`, `once` (first attempt only) or a failure rate 0..1.",
      },
      seed: { value: { kind: "integer", min: 0, max: 2 ** 31 - 1 }, doc: "Seed for a failure rate." },
    },
    verbs: [],
    readiness: "watch",
  },
  runsIn: ["lambda", "local-runtime"],
  simulator: true,
};
