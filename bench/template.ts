// Benchmark: validate + plan of a generated 3,000-server template, in process and as a command.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTemplate } from "../src/core/validate.ts";
import { PROVIDERS } from "../src/providers/registry.ts";
import { dagTemplate, generateDag } from "./generate.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export function benchTemplate(): Record<string, string> {
  const n = 3000;
  const yaml = dagTemplate(generateDag(n, { seed: 7, maxDeps: 3 }));
  const file = join(mkdtempSync(join(tmpdir(), "teamstack-bench-")), "big.yaml");
  writeFileSync(file, yaml);

  const inProcess: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    // Validation answers the plan with the template: nothing plans it a second time.
    const { plan, problems } = loadTemplate(yaml, file, PROVIDERS);
    if (!plan) throw new Error(`generated template is invalid: ${problems[0]?.message}`);
    inProcess.push(performance.now() - t0);
  }
  const bin = new URL("../bin/teamstack.js", import.meta.url).pathname;
  const command: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [bin, "plan", file, "--format", "json"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    command.push(performance.now() - t0);
  }
  return {
    "template size": `${n} servers, ${(yaml.length / 1024).toFixed(0)} KB`,
    "validate + plan, in process (median of 15)": `${median(inProcess).toFixed(1)} ms (goal < 300 ms)`,
    "validate + plan, first run in process": `${(inProcess[0] as number).toFixed(1)} ms`,
    "`teamstack plan --format json`, whole command (median of 7)": `${median(command).toFixed(0)} ms (goal < 1000 ms)`,
  };
}
