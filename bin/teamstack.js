#!/usr/bin/env node
// The teamstack command. Node >= 24 runs the TypeScript sources directly (type stripping); an older
// Node hands over to the Node the project pins (node_modules/.bin/node), as `npm` and `npx` would.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import module from "node:module";
import { fileURLToPath } from "node:url";

const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
  if (!existsSync(pinned) || process.env.TEAMSTACK_REEXEC) {
    process.stderr.write(
      `teamstack needs Node.js 24 or newer; this is ${process.version}. Run \`npm ci\` in the project (it pins Node 24) or install Node 24.\n`,
    );
    process.exit(2);
  }
  const run = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, TEAMSTACK_REEXEC: "1" },
  });
  process.exit(run.status ?? 1);
}
// Node's compile cache, in the project's own node_modules (not a shared temporary folder): each
// command then starts without compiling the same modules again, about a third of its start-up.
module.enableCompileCache?.(
  fileURLToPath(new URL("../node_modules/.cache/teamstack-compile", import.meta.url)),
);
// Everything teamstack writes (records, keys, sandboxes, logs) is for its own user only.
process.umask(0o077);
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
