import { createInterface } from "node:readline/promises";
import { type ChangeSet, destructive } from "../core/change-set.ts";
import type { Io, Values } from "./command.ts";

/**
 * How the CLI shows a change set (`up` on a stack that exists, `update`, `plan --stack`) and asks
 * before replacing or deleting anything.
 */

const MARKS = { keep: " ", create: "+", replace: "~", delete: "-" } as const;

function versionText(v: ChangeSet["from"]): string {
  if (v.name !== undefined && v.version !== undefined) return `${v.name} v${v.version}`;
  return `template ${v.hash.slice(0, 12)}`;
}

/** The change set as text: one line per server (`+` create, `~` replace, `-` delete) with its reasons. */
export function formatChangeSet(changes: ChangeSet): string {
  const same = changes.from.hash === changes.to.hash;
  const lines = [
    same
      ? `changes to converge on ${versionText(changes.to)}:`
      : `changes from ${versionText(changes.from)} to ${versionText(changes.to)}:`,
  ];
  const width = Math.max(4, ...changes.servers.map((c) => c.name.length));
  for (const c of changes.servers) {
    lines.push(
      `  ${MARKS[c.action]} ${c.name.padEnd(width)}  ${c.action.padEnd(7)}${c.reasons.length > 0 ? `  ${c.reasons.join("; ")}` : ""}`.trimEnd(),
    );
  }
  const run = changes.hooks.filter((h) => h.action === "run");
  if (run.length > 0)
    lines.push(`  hooks that run: ${run.map((h) => `${h.phase}:${h.index} ${h.type}`).join(", ")}`);
  const count = (a: string) => changes.servers.filter((c) => c.action === a).length;
  lines.push(
    `  ${count("create")} to create, ${count("replace")} to replace, ${count("delete")} to delete, ${count("keep")} kept`,
  );
  return `${lines.join("\n")}\n`;
}

/** Whether the change set changes nothing: every server kept and no hook to run. */
export function nothingToDo(changes: ChangeSet): boolean {
  return changes.servers.every((c) => c.action === "keep") && changes.hooks.every((h) => h.action === "skip");
}

/**
 * Whether to go ahead: yes when nothing that exists is replaced or deleted, or with `--yes`; on a
 * terminal it asks; without one it refuses, saying how to go ahead.
 */
export async function confirmChanges(
  changes: ChangeSet,
  values: Values,
  io: Io,
  command: string,
  input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<boolean> {
  const risky = destructive(changes);
  if (risky.length === 0 || values.yes === true) return true;
  const what = `${risky.length} server${risky.length === 1 ? "" : "s"} (${risky
    .slice(0, 10)
    .map((c) => `${c.name}: ${c.action}`)
    .join(", ")}${risky.length > 10 ? ", ..." : ""})`;
  if (!input.isTTY) {
    io.err(
      `teamstack ${command}: this replaces or deletes ${what}, losing what is on them; there is no terminal to ask on, so nothing was changed: run it again with --yes to apply it\n`,
    );
    return false;
  }
  const rl = createInterface({ input, output: process.stderr });
  try {
    const answer = await rl.question(`Replace or delete ${what}? [y/N] `);
    if (/^y(es)?$/i.test(answer.trim())) return true;
    io.err(`teamstack ${command}: nothing was changed\n`);
    return false;
  } finally {
    rl.close();
  }
}
