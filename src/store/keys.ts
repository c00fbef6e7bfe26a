import type { HookPhase } from "../core/template.ts";
import type { StackKey } from "../ports/store.ts";
import { InvalidStoreKeyError } from "./errors.ts";

/**
 * Key layout of the one table (docs/ARCHITECTURE.md "The store"). Every item of a stack has a sort
 * key starting with `STACK#<id>`; its children start with `STACK#<id>#`, so the `#` separator may
 * not appear in names.
 *
 * Team items besides stacks, all in the team's partition `TEAM#<team>`:
 * - `TEMPLATES`: the team's template catalog (every template name, and the default template);
 * - `TEMPLATE#<name>`: a template's head (the newest version number allocated and its hash);
 * - `TEMPLATE#<name>#V#<version>`: one published version (10 digits, so string order is numeric);
 * - `MEMBER#<member>`: a member's non-secret data;
 * - `STACKNAME#<member>#<name>`: the stack that holds that name of the member's;
 * - `POLICY`: the team's provider policy (which providers its templates may use);
 * - `CREDENTIAL#<name>`: a credential reference (role ARN and external id, or a secret's ARN);
 * - `BOOTSTRAP#<credential>#<region>`: the aws provider's shared network for that credential there;
 * - `ROLLOUT#<id>`: a rollout (template, target version, waves, state), and under it
 *   `ROLLOUT#<id>#STACK#<stackId>`: one item per stack it updates (see src/store/dynamo/rollouts.ts);
 * - `ACTIVE_ROLLOUT#<template>`: the id of the template's running rollout (at most one).
 *
 * - `EVENT#<id>`: an outbound event about the team's stacks (Stack Provisioned, Stack Failed,
 *   ...), one item per event id, so that recording one is idempotent on its id whatever its time;
 *   each has a `purgeAt` (the table's TTL) 30 days after it.
 */

/** Width of zero-padded numbers in sort keys, so that string order is numeric order. */
const EVENT_DIGITS = 10;
const HOOK_DIGITS = 4;
const VERSION_DIGITS = 10;

/** The highest template version number a sort key can hold. */
export const MAX_TEMPLATE_VERSION = 10 ** VERSION_DIGITS - 1;

/** Item kinds, stored in `kind` so a scan or a mixed query can tell items apart. */
export const ITEM_KINDS = {
  stack: "STACK",
  server: "SERVER",
  hook: "HOOK",
  artifacts: "ARTIFACTS",
  event: "EVENT",
  templateCatalog: "TEMPLATES",
  template: "TEMPLATE",
  templateVersion: "TEMPLATE_VERSION",
  member: "MEMBER",
  outboundEvent: "OUTBOUND_EVENT",
  credential: "CREDENTIAL",
  bootstrap: "BOOTSTRAP",
  teamPolicy: "POLICY",
  stackName: "STACKNAME",
  rollout: "ROLLOUT",
  rolloutStack: "ROLLOUT_STACK",
  activeRollout: "ACTIVE_ROLLOUT",
} as const;

/** Sort key prefix of a team's outbound events, in the team's partition. */
export const OUTBOUND_EVENT_PREFIX = "EVENT#";

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

export function hookKey(key: StackKey, phase: HookPhase, index: number): ItemKey {
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

/** The team's template catalog: the names of its templates and its default template. */
export function templateCatalogKey(team: string): ItemKey {
  return { pk: teamPk(team), sk: "TEMPLATES" };
}

/** A template's head: the newest version number allocated and that version's hash. */
export function templateKey(team: string, name: string): ItemKey {
  return { pk: teamPk(team), sk: `TEMPLATE#${checkName("template name", name)}` };
}

/** Prefix of the sort keys of a template's versions (the head's sort key plus `#V#`). */
export function templateVersionPrefix(team: string, name: string): string {
  return `${templateKey(team, name).sk}#V#`;
}

export function templateVersionKey(team: string, name: string, version: number): ItemKey {
  return { pk: teamPk(team), sk: `${templateVersionPrefix(team, name)}${pad(version, VERSION_DIGITS)}` };
}

/** Prefix of the sort keys of a team's members. */
export const MEMBER_PREFIX = "MEMBER#";

export function memberKey(team: string, member: string): ItemKey {
  return { pk: teamPk(team), sk: `${MEMBER_PREFIX}${checkName("member", member)}` };
}

/** Which stack holds a stack name of a member (names are unique per team and member). */
export function stackNameKey(team: string, member: string, name: string): ItemKey {
  return {
    pk: teamPk(team),
    sk: `STACKNAME#${checkName("member", member)}#${checkName("stack name", name)}`,
  };
}

/** The team's provider policy. */
export function teamPolicyKey(team: string): ItemKey {
  return { pk: teamPk(team), sk: "POLICY" };
}

/** Prefix of the sort keys of a team's credential references. */
export const CREDENTIAL_PREFIX = "CREDENTIAL#";

export function credentialKey(team: string, name: string): ItemKey {
  return { pk: teamPk(team), sk: `${CREDENTIAL_PREFIX}${checkName("credential name", name)}` };
}

export function bootstrapKey(team: string, credential: string, region: string): ItemKey {
  return {
    pk: teamPk(team),
    sk: `BOOTSTRAP#${checkName("credential name", credential)}#${checkName("region", region)}`,
  };
}

export function outboundEventKey(team: string, id: string): ItemKey {
  return { pk: teamPk(team), sk: `${OUTBOUND_EVENT_PREFIX}${checkName("event id", id)}` };
}

/** Prefix of every rollout item of a team (rollouts and their stacks). */
export const ROLLOUT_PREFIX = "ROLLOUT#";

export function rolloutKey(team: string, rolloutId: string): ItemKey {
  return { pk: teamPk(team), sk: `${ROLLOUT_PREFIX}${checkName("rollout id", rolloutId)}` };
}

/** Prefix of the sort keys of a rollout's stack items. */
export function rolloutStackPrefix(team: string, rolloutId: string): string {
  return `${rolloutKey(team, rolloutId).sk}#STACK#`;
}

export function rolloutStackKey(team: string, rolloutId: string, stackId: string): ItemKey {
  return { pk: teamPk(team), sk: `${rolloutStackPrefix(team, rolloutId)}${checkName("stack id", stackId)}` };
}

/** The running rollout of a template (an id, or no item). */
export function activeRolloutKey(team: string, template: string): ItemKey {
  return { pk: teamPk(team), sk: `ACTIVE_ROLLOUT#${checkName("template name", template)}` };
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
