import type { ValueKind } from "../../core/capabilities.ts";
import type { ProviderDeclaration } from "../../core/providers.ts";

/** `fail` and `fail_destroy`: true, false, once, or a failure rate. */
const FAIL: ValueKind = {
  kind: "oneOf",
  describe: "true, false, once, or a failure rate from 0 to 1",
  choices: [{ kind: "boolean" }, { kind: "enum", values: ["once"] }, { kind: "number", min: 0, max: 1 }],
};

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
        value: FAIL,
        doc: "`true`, `once` (first attempt only) or a failure rate 0..1.",
      },
      seed: { value: { kind: "integer", min: 0, max: 2 ** 31 - 1 }, doc: "Seed for a failure rate." },
      // Limits and failures for tests and benchmarks (sim-provider.ts).
      fail_output_bytes: {
        value: { kind: "integer", min: 0, max: 1_000_000 },
        doc: "Bytes of output a failing user_data prints (long error messages).",
      },
      fail_destroy: { value: FAIL, doc: "Whether destroying fails: like `fail`." },
      destroy_ms: {
        value: { kind: "integer", min: 0, max: 86_400_000 },
        doc: "Milliseconds a destroy takes.",
      },
      fail_stop: { value: FAIL, doc: "Whether stopping fails: like `fail`." },
      new_public_ip: {
        value: { kind: "boolean" },
        doc: "Each start gives the server a new PublicIP (as EC2 does without an Elastic IP).",
      },
      create_rate: {
        value: { kind: "number", min: 0.001, max: 10_000 },
        doc: "Creates per second allowed across the team's sim servers in every stack (an account-wide limit, one per team).",
      },
      create_burst: {
        value: { kind: "integer", min: 1, max: 10_000 },
        doc: "Creates allowed at once under `create_rate` (default 1).",
      },
    },
    verbs: ["stop", "start"],
    readiness: "watch",
  },
  runsIn: ["lambda", "local-runtime"],
  simulator: true,
};
