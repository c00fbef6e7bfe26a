// Used by `npm start`: prints `--simulate-provider local` when this machine cannot make `local`
// sandboxes, so that the example still runs (its `local` server on the sim provider), and says on
// stderr what is missing and what to install. Prints nothing when sandboxes work.
import { checkLocalSupport } from "./support.ts";

try {
  await checkLocalSupport();
} catch (err) {
  process.stderr.write(
    `note: ${(err as Error).message}\nnote: running the example's local server (devrim) on the sim provider instead\n`,
  );
  process.stdout.write("--simulate-provider local\n");
}
