import { ERROR_NAMES } from "./error-names.ts";
/** A problem found in a template: where it is and what is wrong. Lines and columns are 1-based. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Base class of every error teamstack raises on purpose. */
export class TeamstackError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.TeamstackError;
  }
}

/**
 * A template that cannot be used, with every problem found in it.
 * The message lists the problems as `FILE:LINE:COL: error: MESSAGE` lines.
 */
export class TemplateError extends TeamstackError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], options?: ErrorOptions) {
    super(problems.map(formatProblem).join("\n"), options);
    this.name = ERROR_NAMES.TemplateError;
    this.problems = problems;
  }
}

/** A reference that the given data cannot resolve when rendering. */
export class UnresolvedReferenceError extends TeamstackError {
  readonly references: readonly string[];
  constructor(references: readonly string[]) {
    super(
      `cannot resolve ${references.map((r) => `\`${r}\``).join(", ")}: no value given for ${references.length === 1 ? "it" : "them"}`,
    );
    this.name = ERROR_NAMES.UnresolvedReferenceError;
    this.references = references;
  }
}

/** Formats a problem the way compilers do, so editors and CI annotate it. */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.column}: error: ${p.message}`;
}

/** Sorts problems by file, line and column, keeping the order of those at the same place. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort(
    (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
  );
}
