import { resolve } from "node:path";
import type { StackRecord, TemplateCatalog } from "../ports/store.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { findRunningServer, type RunningServer } from "./server-client.ts";
import { DEFAULT_TEAM } from "./stack-commands.ts";

/** How often `rollout` asks the server for progress while it runs. */
const PROGRESS_MS = 500;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

interface RolloutView {
  readonly rolloutId: string;
  readonly state: string;
  readonly reason?: string;
  readonly total: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly stacks: readonly {
    readonly stackId: string;
    readonly member: string;
    readonly wave: number;
    readonly canary: boolean;
    readonly state: string;
    readonly error?: string;
  }[];
}

function whole(values: Values, flag: string, min: number, max: number): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || n < min || n > max) {
    throw new UsageError(`--${flag} \`${String(raw)}\`: expected a whole number from ${min} to ${max}`);
  }
  return n;
}

export const rolloutCommand: Command = {
  name: "rollout",
  summary: "Update every stack of a team template to a version, in waves (through `teamstack serve`).",
  usage:
    "teamstack rollout NAME --version N [--team NAME] [--canary 1] [--batch 5] [--max-failed-percent 0] [--json] [--state-dir DIR] [--endpoint URL]",
  options: {
    version: { type: "string" },
    team: { type: "string" },
    canary: { type: "string" },
    batch: { type: "string" },
    "max-failed-percent": { type: "string" },
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    endpoint: { type: "string" },
  },
  help: [
    ["--version N", "The template version to update to (required)."],
    ["--team NAME", "The team (default: local)."],
    ["--canary N", "Stacks updated first, alone; any failure among them stops the rollout (default 1)."],
    ["--batch N", "Stacks per wave after the canary (default 5)."],
    [
      "--max-failed-percent P",
      "Stop after a wave once more than P% of the stacks attempted failed (default 0: any failure).",
    ],
    ["--json", "Print the rollout as JSON when it ends, instead of its progress."],
    [
      "--state-dir DIR",
      "Where local stacks live (default: the nearest .teamstack folder here or above, then $TEAMSTACK_STATE_DIR, then ~/.local/state/teamstack).",
    ],
    [
      "--endpoint URL",
      "Go through this `teamstack serve` (default: the one running on the state directory).",
    ],
  ],
  async run(values, args, io) {
    const [name, ...rest] = args;
    if (!name || rest.length > 0) throw new UsageError("give one template NAME");
    if (!NAME.test(name)) throw new UsageError(`template \`${name}\`: expected letters, digits, _, . and -`);
    const version = whole(values, "version", 1, 9_999_999_999);
    if (version === undefined) throw new UsageError("--version N is required: the version to roll out");
    const team = (values.team as string | undefined) ?? DEFAULT_TEAM;
    if (!NAME.test(team)) throw new UsageError(`--team \`${team}\`: expected letters, digits, _, . and -`);
    const body = {
      version,
      ...optional("canary", whole(values, "canary", 0, 1000)),
      ...optional("batch", whole(values, "batch", 1, 1000)),
      ...optional("max_failed_percent", whole(values, "max-failed-percent", 0, 100)),
    };
    const stateDir = resolve(typeof values["state-dir"] === "string" ? values["state-dir"] : ".teamstack");
    const server = await findRunningServer(stateDir, values.endpoint as string | undefined);
    if (!server) {
      io.err(
        "teamstack rollout: a rollout runs in `teamstack serve` (its waves advance as updates end there): start it (npx teamstack serve) and run this again\n",
      );
      return 1;
    }
    const res = await server.call(team, "POST", `/teams/${team}/templates/${name}/rollout`, body);
    if (res.status !== 202 && res.status !== 200) {
      io.err(`teamstack rollout: ${messageOf(res)}\n`);
      return 1;
    }
    const started = res.body as RolloutView;
    if (!values.json) {
      io.err(
        `rollout ${started.rolloutId} of ${name} to version ${version}: ${started.total} stack${started.total === 1 ? "" : "s"} behind${res.status === 200 ? " (already running)" : ""}\n`,
      );
    }
    const view = await follow(server, team, started, values.json === true, io);
    if (values.json) io.out(`${JSON.stringify(view, null, 2)}\n`);
    else io.out(`rollout ${view.rolloutId}: ${view.state}${view.reason ? `: ${view.reason}` : ""}\n`);
    return view.state === "SUCCEEDED" ? 0 : 1;
  },
};

/** Prints each stack's changes of state until the rollout ends; returns it as it ended. */
async function follow(
  server: RunningServer,
  team: string,
  first: RolloutView,
  quiet: boolean,
  io: Io,
): Promise<RolloutView> {
  const seen = new Map<string, string>();
  let view = first;
  for (;;) {
    if (!quiet) {
      for (const s of view.stacks) {
        if (seen.get(s.stackId) === s.state || s.state === "PENDING") continue;
        seen.set(s.stackId, s.state);
        const where = s.canary ? "canary" : `wave ${s.wave}`;
        io.err(`  ${s.stackId} (${s.member}, ${where}): ${s.state}${s.error ? `: ${s.error}` : ""}\n`);
      }
    }
    if (view.state !== "RUNNING") return view;
    await new Promise((r) => setTimeout(r, PROGRESS_MS));
    const res = await server.call(team, "GET", `/teams/${team}/rollouts/${first.rolloutId}`);
    if (res.status !== 200) throw new Error(`reading rollout ${first.rolloutId}: ${messageOf(res)}`);
    view = res.body as RolloutView;
  }
}

function messageOf(res: { status: number; body: unknown }): string {
  return (res.body as { message?: string })?.message ?? `the server answered ${res.status}`;
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

/**
 * `list --outdated`: the stacks whose template has a newer version than the one they are on
 * (the newest published version of their team's template), with that version.
 */
export async function outdatedStacks(
  store: Pick<TemplateCatalog, "getTemplateVersion">,
  stacks: readonly StackRecord[],
): Promise<Map<string, number>> {
  const latest = new Map<string, number | undefined>();
  const behind = new Map<string, number>();
  for (const s of stacks) {
    if (!s.template || s.status === "DESTROYED") continue;
    const key = `${s.team}\u0000${s.template.name}`;
    if (!latest.has(key)) latest.set(key, (await store.getTemplateVersion(s.team, s.template.name))?.version);
    const newest = latest.get(key);
    if (newest !== undefined && s.template.version < newest) behind.set(s.stackId, newest);
  }
  return behind;
}
