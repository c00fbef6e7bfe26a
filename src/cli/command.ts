import type { ParseArgsConfig } from "node:util";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";
import type { Terminal } from "./live-table.ts";

/** Where a command writes; tests pass their own. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Present when stderr is a terminal that a live table may redraw (src/cli/live-table.ts). */
  readonly terminal?: Terminal;
}

/** A mistake in how the command was called: exit code 2 with the command's usage. */
export class UsageError extends TeamstackError {
  constructor(message: string) {
    super(message);
    this.name = ERROR_NAMES.UsageError;
  }
}

export type Options = ParseArgsConfig["options"] & {};
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Options;
  /** Help for each option, in the order shown. */
  readonly help: readonly (readonly [string, string])[];
  /** Its verbs (`templates push`), for completion; by default read from `usage`. */
  readonly verbs?: readonly string[];
  run(values: Values, positionals: string[], io: Io): Promise<number>;
}
