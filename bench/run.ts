// npm run bench: every benchmark, printed as a table for the README.
import { cpus } from "node:os";
import { benchBundles } from "./bundles.ts";
import { benchConsole } from "./console.ts";
import { benchDocker } from "./docker.ts";
import { benchPipeline } from "./pipeline.ts";
import { benchCreateRate } from "./rate.ts";
import { benchTemplate } from "./template.ts";

const sections: Array<[string, () => Record<string, string> | Promise<Record<string, string>>]> = [
  ["Template language", benchTemplate],
  ["Provisioning: generated DAGs of sim servers through the real state machine, locally", benchPipeline],
  [
    "Provisioning on docker: a 20-server DAG of containers through the real state machine, locally",
    benchDocker,
  ],
  ["Account-wide create limit: stacks at once against one shared rate budget, locally", benchCreateRate],
  ["Lambda bundles: built as the deployment builds them, imported by a fresh Node process", benchBundles],
  ["Web console: the first page with 100 stacks on a local serve, in Chromium", benchConsole],
];

// `npm run bench -- bundles` runs only the sections whose title contains the word.
const only = process.argv[2]?.toLowerCase();
const chosen = sections.filter(([title]) => only === undefined || title.toLowerCase().includes(only));

console.log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"})`);
for (const [title, run] of chosen) {
  console.log(`\n## ${title}\n`);
  console.log("| measure | result |\n|---|---|");
  for (const [k, v] of Object.entries(await run())) console.log(`| ${k} | ${v} |`);
}
