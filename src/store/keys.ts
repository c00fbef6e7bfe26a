import type { StackKey } from "../ports/store.ts";
import { InvalidStoreKeyError } from "./errors.ts";

/**
 * Key layout of the one table (docs/ARCHITECTURE.md "The store"). Every item of a stack has a sort
 * key starting with `STACK#<id>`; its children start with `STACK#<id>#`, so the `#` separator may
 * not appear in names.
 */

/** Width of zero-padded numbers in sort keys, so that string order is numeric order. */
const EVENT_DIGITS = 10;
const HOOK_DIGITS = 4;

/** Item kinds, stored in `kind` so a scan or a mixed query can tell items apart. */
export const ITEM_KINDS = {
  stack: "STACK",
  server: "SERVER",
  hook: "HOOK",
  artifacts: "ARTIFACTS",
  event: "EVENT",
} as const;

/** Name of the sparse index that holds stack items only (`gsi1pk` = team partition). */
export const STACKS_INDEX = "gsi1";

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** Checks that a name can be part of a key. @throws InvalidStoreKeyError */
export function checkName(what: string, value: string): string {
  if (value.length === 0 || value.includes("#")) throw new InvalidStoreKeyError(what, value);
  return value;
}

export function teamPk(team: string): string {
  return `TEAM#${checkName("team", team)}`;
}

export function stackKey(key: StackKey): ItemKey {
  return { pk: teamPk(key.team), sk: `STACK#${checkName("stack id", key.stackId)}` };
}

/** Prefix of the sort keys of every child item of a stack (not the stack item itself). */
export function stackChildPrefix(key: StackKey): string {
  return `${stackKey(key).sk}#`;
}

export function serverKey(key: StackKey, name: string): ItemKey {
  const stack = stackKey(key);
  return { pk: stack.pk, sk: `${stack.sk}#SERVER#${checkName("server name", name)}` };
}

export function serverPrefix(key: StackKey): string {
  return `${stackChildPrefix(key)}SERVER#`;
}

export function hookKey(key: StackKey, phase: "pre" | "post", index: number): ItemKey {
  const stack = stackKey(key);
  return { pk: stack.pk, sk: `${hookPrefix(key)}${phase}#${pad(index, HOOK_DIGITS)}` };
}

export function hookPrefix(key: StackKey): string {
  return `${stackChildPrefix(key)}HOOK#`;
}

export function artifactsKey(key: StackKey): ItemKey {
  const stack = stackKey(key);
  return { pk: stack.pk, sk: `${stack.sk}#ARTIFACTS` };
}

export function eventKey(key: StackKey, seq: number): ItemKey {
  const stack = stackKey(key);
  return { pk: stack.pk, sk: `${eventPrefix(key)}${pad(seq, EVENT_DIGITS)}` };
}

export function eventPrefix(key: StackKey): string {
  return `${stackChildPrefix(key)}EVENT#`;
}

/** The last possible event sort key of a stack (for a `BETWEEN` range). */
export function lastEventSk(key: StackKey): string {
  return `${eventPrefix(key)}${"9".repeat(EVENT_DIGITS)}`;
}

/** Index sort key of a stack item: newest first when read backwards, ties broken by id. */
export function stacksIndexSk(createdAt: string, stackId: string): string {
  return `${createdAt}#${stackId}`;
}

function pad(n: number, digits: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || String(n).length > digits) {
    throw new RangeError(`expected an integer from 0 to ${"9".repeat(digits)} in a sort key, found ${n}`);
  }
  return String(n).padStart(digits, "0");
}
