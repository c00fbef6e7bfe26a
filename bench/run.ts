// npm run bench: every benchmark, printed as a table for the README.
import { cpus } from "node:os";
import { benchPipeline } from "./pipeline.ts";
import { benchTemplate } from "./template.ts";

const sections: Array<[string, () => Record<string, string> | Promise<Record<string, string>>]> = [
  ["Template language", benchTemplate],
  ["Provisioning: generated DAGs of sim servers through the real state machine, locally", benchPipeline],
];

console.log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"})`);
for (const [title, run] of sections) {
  console.log(`\n## ${title}\n`);
  console.log("| measure | result |\n|---|---|");
  for (const [k, v] of Object.entries(await run())) console.log(`| ${k} | ${v} |`);
}
