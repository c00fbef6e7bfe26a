import type { ValidateRequest, ValidateResponse } from "./protocol.ts";
import type { Validation } from "./validate.ts";

/** Validates a template's text; a newer call makes older ones' answers moot (they still arrive). */
export interface Validator {
  validate(text: string, file: string): Promise<Validation & { readonly seq: number }>;
  /** True when validation runs in a Web Worker. */
  readonly inWorker: boolean;
  dispose(): void;
}

interface WorkerLike {
  onmessage: ((event: { data: ValidateResponse }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  postMessage(message: ValidateRequest): void;
  terminate(): void;
}

/**
 * A validator in a Web Worker loaded from `workerUrl`, or, without one (or where Worker is
 * missing or fails to start), on the main thread with the validator loaded on first use.
 */
export function createValidator(workerUrl: string | undefined): Validator {
  const WorkerCtor = (globalThis as { Worker?: new (url: string) => WorkerLike }).Worker;
  if (workerUrl === undefined || WorkerCtor === undefined) return mainThreadValidator();
  let worker: WorkerLike | undefined = new WorkerCtor(workerUrl);
  let fallback: Validator | undefined;
  let seq = 0;
  const waiting = new Map<number, { request: ValidateRequest; resolve: (v: ValidateResponse) => void }>();
  // A worker that cannot start (a blocked script, no Worker support) leaves the validation to this thread.
  const failOver = () => {
    worker?.terminate();
    worker = undefined;
    const main = mainThreadValidator();
    fallback = main;
    for (const { request, resolve } of waiting.values()) {
      void main.validate(request.text, request.file).then((v) => resolve({ ...v, seq: request.seq }));
    }
    waiting.clear();
  };
  worker.onerror = failOver;
  worker.onmessage = (event) => {
    const answer = event.data;
    // The worker skips requests overtaken by newer ones: every older caller gets this answer.
    for (const [s, { resolve }] of waiting) {
      if (s <= answer.seq) {
        waiting.delete(s);
        resolve(answer);
      }
    }
  };
  return {
    get inWorker() {
      return worker !== undefined;
    },
    validate(text, file) {
      if (!worker) return (fallback as Validator).validate(text, file);
      const request = { seq: ++seq, text, file };
      return new Promise((resolve) => {
        waiting.set(request.seq, { request, resolve });
        worker?.postMessage(request);
      });
    },
    dispose() {
      worker?.terminate();
      worker = undefined;
    },
  };
}

function mainThreadValidator(): Validator {
  let seq = 0;
  return {
    inWorker: false,
    async validate(text, file) {
      const mine = ++seq;
      const { validateTemplateText } = await import("./validate.ts");
      return { seq: mine, ...validateTemplateText(text, file) };
    },
    dispose() {},
  };
}
