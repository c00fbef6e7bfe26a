import type { Problem } from "../errors.ts";
import type { ProviderCatalog } from "../providers.ts";
import { LineIndex } from "../source.ts";
import type { VarValue } from "../template.ts";
import type { YMap, YNode, YScalar } from "../yaml-tree.ts";
import { didYouMean, NameHints, oneOf } from "./hints.ts";

/**
 * What the parts of validation share while they walk one template: where problems go (with their
 * line and column), the names defined so far, the strings whose references are checked once every
 * name is known, and the dependency edges found on the way.
 */

/** Where a string stands, which decides what it may reference. */
export type Scope = "pre" | "server" | "post";

/** An interpolated string, kept until every name is known. */
export interface PendingRefs {
  readonly node: YScalar;
  readonly value: string;
  readonly scope: Scope;
  /** The server whose user_data this is. */
  readonly owner?: string;
  readonly where: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const SERVER_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/;
const RESERVED = new Set(["__proto__", "constructor", "prototype"]);

export class ValidationContext {
  readonly problems: Problem[] = [];
  /** What is worth saying about a template that is not a problem (an alias used), once each. */
  readonly notes: Problem[] = [];
  readonly #noted = new Set<string>();
  readonly text: string;
  readonly file: string;
  readonly lines: LineIndex;
  readonly providers: ProviderCatalog;
  readonly hints = new NameHints();
  readonly pending: PendingRefs[] = [];
  readonly vars = new Map<string, VarValue>();
  /** Each server's name node, in document order. */
  readonly serverNames = new Map<string, YScalar>();
  /** Servers each server's user_data references, by first appearance. */
  readonly referenced = new Map<string, string[]>();
  /** First place each dependency edge appears, for cycle messages. */
  readonly edges = new Map<string, number>();

  constructor(text: string, file: string, providers: ProviderCatalog) {
    this.text = text;
    this.file = file;
    this.lines = new LineIndex(text);
    this.providers = providers;
  }

  /** Records a note at an offset of the text, once per message however often it is asked. */
  note(offset: number, message: string): void {
    if (this.#noted.has(message)) return;
    this.#noted.add(message);
    this.notes.push({ file: this.file, ...this.lines.position(offset), message });
  }

  /** Records a problem at an offset of the text. */
  at(offset: number, message: string): void {
    this.problems.push({ file: this.file, ...this.lines.position(offset), message });
  }

  /** Checks a mapping's keys against the allowed ones; returns the values by key. */
  fields<K extends string>(map: YMap, where: string, allowed: readonly K[]): Partial<Record<K, YNode>> {
    const out: Partial<Record<K, YNode>> = Object.create(null);
    for (const { key, value } of map.entries) {
      const name = String(key.value);
      if ((allowed as readonly string[]).includes(name)) out[name as K] = value;
      else
        this.at(
          key.start,
          `${where}: unknown key \`${name}\`; expected ${oneOf(allowed)}${didYouMean(name, allowed)}`,
        );
    }
    return out;
  }

  /** Checks a name a template defines (a var, a server); reports and returns false when it is not one. */
  checkName(key: YScalar, name: string, what: string, pattern = NAME): boolean {
    if (RESERVED.has(name)) {
      this.at(key.start, `\`${name}\` is a reserved word and cannot name a ${what}`);
      return false;
    }
    if (!pattern.test(name)) {
      this.at(
        key.start,
        `invalid ${what} name \`${name}\`: expected a letter or _ followed by letters, digits, _ or -${pattern === SERVER_NAME ? " (at most 63)" : ""}`,
      );
      return false;
    }
    return true;
  }

  /** Notes the first place a dependency edge appears. */
  edge(from: string, to: string, offset: number): void {
    const key = `${from}\u0000${to}`;
    if (!this.edges.has(key)) this.edges.set(key, offset);
  }

  /** "; servers are: a, b, ... (did you mean `x`?)", for a message about an unknown server. */
  serverChoices(name: string): string {
    if (this.serverNames.size === 0) return "; the template defines no servers";
    return `; servers are: ${this.hints.someNames(name, this.serverNames)}`;
  }
}
