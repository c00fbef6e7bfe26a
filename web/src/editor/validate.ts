import type { Problem } from "../../../src/core/errors.ts";
import { loadTemplate } from "../../../src/core/validate.ts";
import { PROVIDERS } from "../../../src/providers/registry.ts";

/** What validating a template's text found, and how long it took. */
export interface Validation {
  readonly problems: readonly Problem[];
  /** The template's servers in order, when it is valid. */
  readonly servers: readonly string[];
  readonly ms: number;
}

/**
 * Validates a template's text as `PUT /teams/{team}/templates/{name}` will: the core's validator
 * against the providers' declarations, every problem with its line and column.
 */
export function validateTemplateText(text: string, file: string): Validation {
  const started = performance.now();
  const { template, problems } = loadTemplate(text, file, PROVIDERS);
  return {
    problems,
    servers: template ? template.servers.map((s) => s.name) : [],
    ms: performance.now() - started,
  };
}
