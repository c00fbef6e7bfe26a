import type { ValidateRequest, ValidateResponse } from "./protocol.ts";
import { validateTemplateText } from "./validate.ts";

/**
 * The validator's Web Worker: the core's validator off the main thread, so typing stays smooth on
 * a large template (a 500-server template takes about 60 ms to validate, a 1 MB one about half a
 * second). Requests that arrive while one is validated wait; only the newest of them is validated.
 */

interface WorkerScope {
  onmessage: ((event: { data: ValidateRequest }) => void) | null;
  postMessage(message: ValidateResponse): void;
}
const scope = globalThis as unknown as WorkerScope;

let next: ValidateRequest | undefined;
let scheduled = false;

scope.onmessage = (event) => {
  next = event.data;
  if (scheduled) return;
  scheduled = true;
  // Let queued messages arrive first, so a burst of keystrokes costs one validation.
  setTimeout(run, 0);
};

function run(): void {
  scheduled = false;
  const request = next;
  next = undefined;
  if (!request) return;
  try {
    scope.postMessage({ seq: request.seq, ...validateTemplateText(request.text, request.file) });
  } catch (error) {
    // A bug in the validator must not leave the editor waiting for ever: it is shown as a problem.
    const message = `the validator failed: ${error instanceof Error ? error.message : String(error)}`;
    scope.postMessage({
      seq: request.seq,
      problems: [{ file: request.file, line: 1, column: 1, message }],
      servers: [],
      ms: 0,
    });
  }
}
