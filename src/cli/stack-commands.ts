import { createHash, randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { basename, resolve } from "node:path";
import type { ChangeSet } from "../core/change-set.ts";
import { ERROR_NAMES } from "../core/error-names.ts";
import { formatProblem, TeamstackError } from "../core/errors.ts";
import { providersIn } from "../core/providers.ts";
import type { Template } from "../core/template.ts";
import { loadTemplate, MAX_TEMPLATE_BYTES, tooLarge } from "../core/validate.ts";
import { StoreLostError } from "../local/dynamo/errors.ts";
import { type LocalEngine, openLocalEngine } from "../local/engine.ts";
import { openStateDir } from "../local/state-dir.ts";
import { changeSetOf, versionOf } from "../pipeline/changes.ts";
import { matchesFilter } from "../pipeline/stack-filter.ts";
import {
  isStopped,
  type StackStatusView,
  shownStatus,
  stackStatus,
  withLiveness,
} from "../pipeline/status.ts";
import {
  compileStackRecord,
  missingUserdata,
  stackAtVersion,
  type VersionTarget,
} from "../pipeline/template.ts";
import type { StackEvent, StackKey, StackRecord } from "../ports/store.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { createLocalSecrets } from "../secrets/local-secrets.ts";
import { confirmChanges, formatChangeSet, nothingToDo } from "./change-set-output.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { readJsonFile, readTemplateBytes } from "./files.ts";
import { LIST_FILTER_HELP, LIST_FILTER_OPTIONS, listFilter } from "./list-filter.ts";
import { RUN_JSON_HELP } from "./ndjson.ts";
import { outdatedStacks } from "./rollout-command.ts";
import { bindRunOutput, createRunOutput, DOING, runOutputOf } from "./run-output.ts";
import { findRunningServer, type RunningServer } from "./server-client.ts";
import { stateDirFlag } from "./state-dir.ts";

export const STATE_DIR_HELP: readonly [string, string] = [
  "--state-dir DIR",
  "Where local stacks live (default: the nearest .teamstack folder here or above, then $TEAMSTACK_STATE_DIR, then ~/.local/state/teamstack).",
];
export const JSON_HELP: readonly [string, string] = ["--json", "Print the result as JSON on stdout."];
export const ENDPOINT_HELP: readonly [string, string] = [
  "--endpoint URL",
  "Go through this `teamstack serve` (default: the one running on the state directory, if any).",
];
export const common = { "state-dir": { type: "string" }, json: { type: "boolean" } } as const;

function stateDirOf(values: Values): string {
  return resolve(typeof values["state-dir"] === "string" ? values["state-dir"] : ".teamstack");
}

/**
 * Servers a run of this process has started making, from its events (what a stop leaves behind);
 * `muted` once the run was stopped, so that tasks still finishing print nothing after the report.
 */
type Seen = Map<string, string> & { muted?: boolean };

export async function withEngine<T>(
  values: Values,
  io: Io,
  fn: (engine: LocalEngine, seen: Seen) => Promise<T>,
): Promise<T> {
  const output = createRunOutput(values, io);
  const seen: Seen = new Map();
  const onEvent = (key: StackKey, e: StackEvent): void => {
    if (e.server !== undefined && e.type !== "ServerWaiting") seen.set(e.server, e.type);
    if (!seen.muted) output.event(key, e);
  };
  // A one-shot command whose store goes away stops and says so, rather than retry for ever.
  const engine = await openLocalEngine({ stateDir: stateDirOf(values), onEvent, onStoreLost: "fail" });
  output.load = (key) => stackStatus(engine.store, key);
  bindRunOutput(engine, output);
  try {
    return await fn(engine, seen);
  } finally {
    await engine.close();
  }
}

/** A run stopped by a signal: Ctrl-C (SIGINT), a closed terminal (SIGHUP), or SIGTERM. */
class InterruptedError extends TeamstackError {
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
    this.name = ERROR_NAMES.InterruptedError;
    this.signal = signal;
  }
}

const STOP_SIGNALS = ["SIGINT", "SIGHUP", "SIGTERM"] as const;
const SIGNAL_NUMBERS: Record<(typeof STOP_SIGNALS)[number], number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** The machines a command runs on a stack (stop and start: the power machine). */
export type StackMachine = "provision" | "destroy" | "stop" | "start";

/** The commands that resume and tear down a stack, with the --state-dir the user gave. */
function nextSteps(stackId: string, values: Values, machine: StackMachine): string {
  const dir = stateDirFlag(values["state-dir"]);
  if (machine === "stop" || machine === "start")
    return `finish it:     npx teamstack ${machine} ${stackId}${dir}\ntear it down:  npx teamstack down ${stackId}${dir}\n`;
  return machine === "provision"
    ? `resume it:     npx teamstack rerun ${stackId}${dir}\ntear it down:  npx teamstack down ${stackId}${dir}\n`
    : `finish tearing it down:  npx teamstack down ${stackId}${dir}\n`;
}

/** What a stopped run leaves running, from the store, or from this run's events when the store is gone. */
async function leftRunning(engine: LocalEngine, key: StackKey, seen: Seen): Promise<string> {
  const servers = await Promise.race([
    engine.store.listServers(key).catch(() => undefined),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000).unref()),
  ]);
  const lines = servers
    ? servers
        .filter((s) => s.artifacts?.Id || s.status === "CREATING" || s.status === "SUCCEEDED")
        .map((s) =>
          `  ${s.name.padEnd(12)} ${s.status.padEnd(9)} ${s.artifacts?.IP ?? ""}  ${s.artifacts?.Id ?? ""}`.trimEnd(),
        )
    : [...seen]
        .filter(([, type]) => type !== "ServerSkipped" && type !== "ServerDestroyed")
        .map(([name]) => `  ${name}`);
  return lines.length === 0 ? "  (no server of it was started)\n" : `${lines.join("\n")}\n`;
}

/**
 * Runs a state machine on a stack until it ends, or until Ctrl-C, a closed terminal, SIGTERM or a
 * lost store stops it: then it says what it left running and the commands that resume the stack
 * and tear it down, and returns the exit code (128 + the signal's number, or 1).
 */
export async function runGuarded(
  command: string,
  engine: LocalEngine,
  key: StackKey,
  machine: StackMachine,
  seen: Seen,
  values: Values,
  io: Io,
  run: () => Promise<number>,
): Promise<number> {
  let stopped = false;
  const onSignal = (signal: (typeof STOP_SIGNALS)[number]): void => {
    // A second signal does not wait for the report.
    if (stopped) process.exit(128 + SIGNAL_NUMBERS[signal]);
    stopped = true;
    engine.stopRuns(new InterruptedError(signal));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  runOutputOf(engine)?.begin(key, DOING[machine]);
  try {
    return await run();
  } catch (error) {
    runOutputOf(engine)?.stop();
    if (!(error instanceof InterruptedError) && !(error instanceof StoreLostError)) throw error;
    seen.muted = true;
    const what =
      error instanceof InterruptedError
        ? `interrupted (${error.signal}) while ${{ provision: "provisioning", destroy: "destroying", stop: "stopping", start: "starting" }[machine]} stack ${key.stackId}`
        : `${error.message}\nstack ${key.stackId} stopped mid-run`;
    io.err(
      `teamstack ${command}: ${what}; what it left running:\n${await leftRunning(engine, key, seen)}${nextSteps(key.stackId, values, machine)}`,
    );
    if (error instanceof StoreLostError && machine === "provision")
      io.err("(rerun starts the store again and takes the stack over)\n");
    return error instanceof InterruptedError
      ? 128 + SIGNAL_NUMBERS[error.signal as (typeof STOP_SIGNALS)[number]]
      : 1;
  } finally {
    runOutputOf(engine)?.stop();
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
}

export async function findStack(engine: LocalEngine, id: string): Promise<StackRecord> {
  const stacks = await engine.store.listStacks();
  const found = stacks.find((s) => s.stackId === id);
  if (!found) {
    const ids = stacks.slice(0, 10).map((s) => s.stackId);
    throw new UsageError(
      `no stack \`${id}\` in ${engine.stateDir}${ids.length > 0 ? `; stacks: ${ids.join(", ")}` : "; it holds no stacks"}`,
    );
  }
  return found;
}

function printStatus(view: StackStatusView, values: Values, io: Io): void {
  if (values.json) {
    io.out(`${JSON.stringify(view, null, 2)}\n`);
    return;
  }
  const on = view.template.name !== null ? `, ${view.template.name} v${view.template.version}` : "";
  const lines = [
    `stack ${view.stackId}${view.name !== null && view.name !== view.stackId ? ` "${view.name}"` : ""} (team ${view.team}, member ${view.member}${on}, run ${view.run}): ${view.status}`,
  ];
  if (view.error) lines.push(`  error: ${view.error}`);
  // Only `teamstack serve` acts on them on this machine (src/local/scheduler.ts).
  const by = "while `teamstack serve` runs; `teamstack extend` pushes it back";
  if (view.expiresAt) lines.push(`  destroyed at ${view.expiresAt} (ttl, ${by})`);
  if (view.stopsAt) lines.push(`  stopped at ${view.stopsAt} (auto_stop, ${by})`);
  const width = Math.max(4, ...view.servers.map((s) => s.name.length));
  for (const s of view.servers) {
    const where = s.artifacts.IP ? `${s.artifacts.IP}  ${s.artifacts.Id ?? ""}` : "";
    lines.push(
      `  ${s.name.padEnd(width)}  ${s.status.padEnd(9)}  ${s.provider.padEnd(5)}  ${where}${s.error ? `  ${s.error}` : ""}`,
    );
  }
  for (const h of view.hooks) {
    lines.push(
      `  ${`${h.phase}:${h.index}`.padEnd(7)} ${h.type.padEnd(15)} ${h.status}${h.exitCode !== null ? ` (exit ${h.exitCode})` : ""}${h.error ? `: ${h.error}` : ""}`,
    );
    if (h.output) for (const l of h.output.trimEnd().split("\n").slice(-10)) lines.push(`      | ${l}`);
  }
  io.out(`${lines.join("\n")}\n`);
}

export async function finish(engine: LocalEngine, key: StackKey, values: Values, io: Io): Promise<number> {
  const view = await stackStatus(engine.store, key);
  if (!view) throw new UsageError(`stack ${key.stackId} vanished`);
  // --json: the run output prints the final status as its last line.
  const output = runOutputOf(engine);
  output?.end(view);
  if (!values.json || !output) printStatus(view, values, io);
  return view.status === "SUCCEEDED" || view.status === "DESTROYED" || view.status === "STOPPED" ? 0 : 1;
}

async function readUserdata(file: string | undefined): Promise<Record<string, string>> {
  if (file === undefined) return {};
  const json = await readJsonFile(file);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UsageError(`${file}: expected member data as {"KEY":"value"}`);
  }
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v)]));
}

/**
 * Refuses, before the store is opened, a template whose servers use a provider that does not run
 * on the local runtime (unless simulated). Each provider's own preflight (local: the machine can
 * make sandboxes; ssh and docker: the team has registered the hosts the servers name) runs once
 * the store is open, through the engine, before anything is written.
 */
function checkProvidersRunHere(template: Template, simulate: readonly string[], file: string): void {
  const available = providersIn(PROVIDERS, "local-runtime");
  const used = template.servers.filter((s) => !simulate.includes(s.provider));
  const elsewhere = used.find((s) => !available.includes(s.provider))?.provider;
  if (elsewhere !== undefined) {
    const names = used.filter((s) => s.provider === elsewhere).map((s) => s.name);
    throw new UsageError(
      `${file}: ${names.join(", ")} use${names.length === 1 ? "s" : ""} the ${elsewhere} provider, which does not run on this machine yet; add --simulate-provider ${elsewhere} to simulate ${names.length === 1 ? "it" : "them"}`,
    );
  }
}

function simulatedProviders(values: Values): string[] {
  const named = (values["simulate-provider"] as string[] | undefined) ?? [];
  if (values.simulate === true) {
    if (named.length > 0) throw new UsageError("give --simulate or --simulate-provider, not both");
    return [...PROVIDERS.names];
  }
  const out = new Set<string>();
  for (const p of named) {
    const canonical = PROVIDERS.canonical(p);
    if (!canonical)
      throw new UsageError(`--simulate-provider \`${p}\`: expected one of ${PROVIDERS.names.join(", ")}`);
    out.add(canonical);
  }
  return [...out];
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** The team of stacks made on this machine without --team. */
export const DEFAULT_TEAM = "local";

export const upCommand: Command = {
  name: "up",
  summary: "Create a stack from a template and run it to the end, on this machine.",
  usage:
    "teamstack up FILE [--name NAME] [--member NAME] [--team NAME] [--userdata FILE.json] [--simulate | --simulate-provider NAME...] [--yes] [--json] [--state-dir DIR]",
  options: {
    ...common,
    name: { type: "string" },
    yes: { type: "boolean", short: "y" },
    member: { type: "string" },
    team: { type: "string" },
    userdata: { type: "string" },
    simulate: { type: "boolean" },
    "simulate-provider": { type: "string", multiple: true },
  },
  help: [
    [
      "--name NAME",
      "The stack's name (default: the file's name without extension). A stack of that name of the member's is updated to the file, not made twice.",
    ],
    ["-y, --yes", "Replace or delete servers of an existing stack without asking."],
    ["--member NAME", "Whose stack this is (default: the current user)."],
    ["--team NAME", "The team (default: local)."],
    ["--userdata FILE", 'The member\'s data for $koding.userdata.KEY, as {"KEY":"value"}.'],
    ["--simulate", "Run every server on the sim provider."],
    ["--simulate-provider NAME", "Run this provider's servers on sim (repeatable), e.g. aws."],
    RUN_JSON_HELP,
    STATE_DIR_HELP,
  ],
  async run(values, files, io) {
    if (files.length !== 1) throw new UsageError("give one template FILE");
    const file = files[0] as string;
    const member = (values.member as string | undefined) ?? userInfo().username;
    const team = (values.team as string | undefined) ?? DEFAULT_TEAM;
    for (const [what, v] of [
      ["member", member],
      ["team", team],
    ] as const) {
      if (!NAME.test(v))
        throw new UsageError(`--${what} \`${v}\`: use letters, digits, _, . and - (at most 63)`);
    }
    const userdata = await readUserdata(values.userdata as string | undefined);
    const simulate = simulatedProviders(values);
    const read = await readTemplateBytes(file, MAX_TEMPLATE_BYTES);
    const loaded = read.tooLarge
      ? { template: undefined, problems: [{ file, line: 1, column: 1, message: tooLarge(read.size) }] }
      : loadTemplate(read.bytes, file, PROVIDERS);
    if (!loaded.template) {
      io.err(loaded.problems.map((p) => `${formatProblem(p)}\n`).join(""));
      return 1;
    }
    await openStateDir(stateDirOf(values));
    const secrets = createLocalSecrets({ stateDir: stateDirOf(values) });
    const missing = await missingUserdata(loaded.template, userdata, secrets, { team, member });
    if (missing.length > 0) {
      throw new UsageError(
        `${file} uses ${missing.map((k) => `$koding.userdata.${k}`).join(", ")}; give ${missing.length === 1 ? "it" : "them"} with --userdata FILE.json (${JSON.stringify(Object.fromEntries(missing.map((k) => [k, "..."])))}), or as member secrets (teamstack secrets set --team ${team} --member ${member} KEY, the value on stdin)`,
      );
    }
    checkProvidersRunHere(loaded.template, simulate, file);
    const yaml = new TextDecoder().decode(read.tooLarge ? new Uint8Array() : read.bytes);
    const name = stackNameOf(values.name as string | undefined, file);
    const templateHash = createHash("sha256").update(yaml).digest("hex");
    const servers = loaded.template.servers;
    return withEngine(values, io, async (engine, seen) => {
      // What a server needs from this machine and from the team (sandboxes; a registered ssh or
      // Docker host) is checked before a version or a stack is written.
      await engine.providers.preflight(team, servers, simulate);
      // The file is published as a version of the template named after it (the same text is the
      // same version): the stack records which version it is on, as a team template's stacks do.
      const published = await engine.store.putTemplateVersion({
        team,
        name,
        yaml,
        hash: templateHash,
        author: member,
        createdAt: new Date().toISOString(),
      });
      const template = { name, version: published.version.version };
      const stackId = `${
        member
          .toLowerCase()
          .replace(/[^a-z0-9]/g, "")
          .slice(0, 12) || "stack"
      }-${randomBytes(4).toString("hex")}`;
      const holder = await engine.store.claimStackName(team, member, name, stackId);
      if (holder !== stackId) {
        // The member's stack of that name exists: `up` converges it on the file.
        const stack = await engine.store.getStack({ team, stackId: holder });
        if (stack) {
          const target = await stackAtVersion(
            engine.store,
            stack,
            template.version,
            engine.providers.catalog,
          );
          return applyUpdate(
            "up",
            engine,
            seen,
            stack,
            target,
            { templateFile: file, userdata, simulate },
            values,
            io,
          );
        }
      }
      const now = new Date().toISOString();
      await engine.store.createStack({
        team,
        stackId,
        name,
        member,
        status: "RUNNING",
        run: 0,
        templateYaml: yaml,
        templateFile: file,
        templateHash,
        template,
        userdata,
        simulate,
        createdAt: now,
        startedAt: now,
      });
      if (!values.json)
        io.err(
          `stack ${stackId}: provisioning ${file} as ${name} v${template.version} (${engine.stateDir})\n`,
        );
      const key = { team, stackId };
      return runGuarded("up", engine, key, "provision", seen, values, io, async () => {
        await engine.provision(key);
        const code = await finish(engine, key, values, io);
        if (!values.json)
          io.err(`\ntear it down with: npx teamstack down ${stackId}${stateDirFlag(values["state-dir"])}\n`);
        return code;
      });
    });
  },
};

/** A stack name from --name, or from the file's name (what a name may not hold becomes `-`). */
function stackNameOf(given: string | undefined, file: string): string {
  if (given !== undefined) {
    if (!NAME.test(given))
      throw new UsageError(`--name \`${given}\`: use letters, digits, _, . and - (at most 63)`);
    return given;
  }
  const stem = basename(file).replace(/\.ya?ml$/i, "");
  const name = stem
    .replace(/[^A-Za-z0-9_.-]/g, "-")
    .replace(/^[.-]+/, "")
    .slice(0, 63);
  if (!NAME.test(name))
    throw new UsageError(`${file}: cannot make a stack name of the file's name; give --name NAME`);
  return name;
}

/**
 * Updates a stack on this machine to a template version (`update`, or `up` of a changed file):
 * shows the change set, asks before replacing or deleting (see confirmChanges), records the
 * version on the stack and runs the provision machine, whose Prepare applies the change set.
 * Nothing is changed when the stack is busy, the version does not validate, or the answer is no.
 */
async function applyUpdate(
  command: string,
  engine: LocalEngine,
  seen: Seen,
  stack: StackRecord,
  target: VersionTarget,
  patch: Partial<Pick<StackRecord, "templateFile" | "userdata" | "simulate">>,
  values: Values,
  io: Io,
): Promise<number> {
  const key = { team: stack.team, stackId: stack.stackId };
  if (!target.ok) {
    if (target.problems) io.err(target.problems.map((p) => `${formatProblem(p)}\n`).join(""));
    io.err(`teamstack ${command}: ${target.message}\n`);
    return 1;
  }
  if (stack.lock && (await engine.executions.isRunning(stack.lock.execution))) {
    io.err(
      `teamstack ${command}: stack ${stack.stackId} is busy: run ${stack.lock.run} (execution ${stack.lock.execution}) is still running; wait for it\n`,
    );
    return 1;
  }
  if (isStopped(stack.status)) {
    io.err(
      `teamstack ${command}: stack ${stack.stackId} is ${stack.status.toLowerCase()}; start it first: npx teamstack start ${stack.stackId}\n`,
    );
    return 1;
  }
  if (stack.status === "DESTROYING") {
    io.err(
      `teamstack ${command}: stack ${stack.stackId} is being destroyed; \`teamstack down ${stack.stackId}\` finishes that\n`,
    );
    return 1;
  }
  const next: StackRecord = { ...target.next, ...patch };
  const [servers, hooks] = await Promise.all([engine.store.listServers(key), engine.store.listHooks(key)]);
  const changes = changeSetOf(
    versionOf(stack),
    target.ref,
    servers,
    hooks,
    compileStackRecord(next, engine.providers.catalog),
  );
  if (!values.json)
    io.err(
      `stack ${stack.stackId}${stack.name ? ` (${stack.name})` : ""} exists; ${formatChangeSet(changes)}`,
    );
  if (nothingToDo(changes) && stack.status === "SUCCEEDED" && stack.templateHash === next.templateHash) {
    if (!values.json) io.err(`stack ${stack.stackId} is up to date\n`);
    return finish(engine, key, values, io);
  }
  if (!(await confirmChanges(changes, values, io, command))) return 1;
  await engine.store.updateStack(key, {
    templateYaml: next.templateYaml,
    templateFile: next.templateFile,
    templateHash: next.templateHash,
    template: next.template,
    userdata: next.userdata,
    simulate: next.simulate,
  });
  await engine.store.appendEvent(key, {
    type: "UpdateRequested",
    message:
      stack.template?.name === target.ref.name && stack.template.version === target.ref.version
        ? `converge on ${target.ref.name} v${target.ref.version}`
        : `update to ${target.ref.name} v${target.ref.version}${stack.template ? ` (from ${stack.template.name} v${stack.template.version})` : ""}`,
  });
  return runGuarded(command, engine, key, "provision", seen, values, io, async () => {
    const outcome = await engine.provision(key);
    if (outcome.status === "FAILED" && outcome.error === "StackLockedError") {
      io.err(`teamstack ${command}: ${outcome.cause}\n`);
      return 1;
    }
    return finish(engine, key, values, io);
  });
}

export const updateCommand: Command = {
  name: "update",
  summary: "Update a stack to a version of its template: shows the change set, then applies it.",
  usage: "teamstack update ID [--version N] [--yes] [--json] [--state-dir DIR] [--endpoint URL]",
  options: {
    ...common,
    version: { type: "string" },
    yes: { type: "boolean", short: "y" },
    endpoint: { type: "string" },
  },
  help: [
    ["--version N", "The template version to go to (default: the newest)."],
    ["-y, --yes", "Replace or delete servers without asking (needed without a terminal)."],
    RUN_JSON_HELP,
    STATE_DIR_HELP,
    ENDPOINT_HELP,
  ],
  async run(values, ids, io) {
    if (ids.length !== 1) throw new UsageError("give one stack ID");
    const raw = values.version as string | undefined;
    if (raw !== undefined && !/^[1-9][0-9]{0,9}$/.test(raw))
      throw new UsageError(`--version \`${raw}\`: expected a version number (1, 2, ...)`);
    const version = raw === undefined ? undefined : Number(raw);
    return withEngine(values, io, async (engine, seen) => {
      const stack = await findStack(engine, ids[0] as string);
      const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
      if (server) {
        const path = `/teams/${stack.team}/stacks/${stack.stackId}`;
        const preview = await server.call(
          stack.team,
          "GET",
          `${path}/changes${version ? `?version=${version}` : ""}`,
        );
        if (preview.status !== 200) {
          io.err(
            `teamstack update: ${(preview.body as { message?: string })?.message ?? `the server answered ${preview.status}`}\n`,
          );
          return 1;
        }
        const changes = preview.body as ChangeSet;
        if (!values.json) io.err(formatChangeSet(changes));
        if (!(await confirmChanges(changes, values, io, "update"))) return 1;
        return throughServer(
          server,
          engine,
          stack,
          { method: "POST", path: `${path}/update`, body: { version: changes.to.version } },
          values,
          io,
        );
      }
      const target = await stackAtVersion(engine.store, stack, version, engine.providers.catalog);
      return applyUpdate("update", engine, seen, stack, target, {}, values, io);
    });
  },
};

export const statusCommand: Command = {
  name: "status",
  summary: "Show a stack: its servers, artifacts and hooks.",
  usage: "teamstack status ID [--json] [--state-dir DIR]",
  options: common,
  help: [JSON_HELP, STATE_DIR_HELP],
  async run(values, ids, io) {
    if (ids.length !== 1) throw new UsageError("give one stack ID");
    return withEngine({ ...values, json: true }, io, async (engine) => {
      const stack = await findStack(engine, ids[0] as string);
      const view = await withLiveness(
        (await stackStatus(engine.store, stack)) as StackStatusView,
        engine.executions,
      );
      printStatus(view, values, io);
      const powering = stack.status === "STOPPING" || stack.status === "STARTING";
      if (
        !values.json &&
        view.lock &&
        powering &&
        !(await engine.executions.isRunning(view.lock.execution))
      ) {
        const verb = stack.status === "STOPPING" ? "stop" : "start";
        io.err(
          `note: run ${view.lock.run} stopped before it finished (its process is gone); \`teamstack ${verb} ${view.stackId}\` takes over and completes it\n`,
        );
      } else if (!values.json && view.lock && !(await engine.executions.isRunning(view.lock.execution))) {
        io.err(
          `note: run ${view.lock.run} stopped before it finished (its process is gone); \`teamstack rerun ${view.stackId}\` takes over and completes it, \`teamstack down ${view.stackId}\` tears it down\n`,
        );
      }
      return 0;
    });
  },
};

export const listCommand: Command = {
  name: "list",
  summary: "List the stacks in the state directory.",
  usage:
    "teamstack list [--member NAME] [--status STATUS] [--name NAME] [--outdated] [--json] [--state-dir DIR]",
  options: { ...common, ...LIST_FILTER_OPTIONS, outdated: { type: "boolean" } },
  help: [
    ...LIST_FILTER_HELP,
    ["--outdated", "Only stacks on a version older than their template's newest (and that version)."],
    JSON_HELP,
    STATE_DIR_HELP,
  ],
  async run(values, args, io) {
    if (args.length > 0) throw new UsageError("list takes no arguments");
    const filter = listFilter(values);
    return withEngine({ ...values, json: true }, io, async (engine) => {
      let stacks = await engine.store.listStacks();
      const behind = values.outdated ? await outdatedStacks(engine.store, stacks) : undefined;
      if (behind) stacks = stacks.filter((s) => behind.has(s.stackId));
      const all = await Promise.all(
        stacks.map(async (s) => {
          const status = await shownStatus(s, engine.executions);
          return {
            stackId: s.stackId,
            name: s.name ?? null,
            template: s.template ?? null,
            status,
            team: s.team,
            member: s.member,
            startedAt: s.startedAt,
            // --outdated: the version the stack's template is at.
            ...(behind ? { latest: behind.get(s.stackId) } : {}),
            // The run that is gone, for an INTERRUPTED stack.
            ...(status === "INTERRUPTED" && s.lock ? { run: s.lock.run, execution: s.lock.execution } : {}),
          };
        }),
      );
      const rows = all.filter((r, i) => matchesFilter(stacks[i] as StackRecord, r.status, filter));
      if (values.json) io.out(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0)
        io.err(
          `no ${behind ? "stack behind its template" : "stacks"}${Object.keys(filter).length > 0 ? " match" : ""} in ${engine.stateDir}\n`,
        );
      else
        for (const r of rows)
          io.out(
            `${r.stackId.padEnd(22)} ${(r.name ?? "").padEnd(16)} ${r.status.padEnd(11)} ${r.team}/${r.member}  ${r.template ? `${r.template.name} v${r.template.version}  ` : ""}${"latest" in r ? `(newest v${r.latest})  ` : ""}${r.startedAt}${"run" in r ? `  (run ${r.run}, execution ${r.execution})` : ""}\n`,
          );
      return 0;
    });
  },
};

/**
 * Runs rerun or down through a `teamstack serve` on the same state directory, so the execution
 * runs where the server's other executions run; waits for it as the local path does.
 */
export async function throughServer(
  server: RunningServer,
  engine: LocalEngine,
  stack: StackRecord,
  request: { readonly method: string; readonly path: string; readonly body?: unknown },
  values: Values,
  io: Io,
): Promise<number> {
  const output = runOutputOf(engine);
  // The run's events are read from the store (they happen in the server's process).
  let seq = (await engine.store.listEvents(stack)).at(-1)?.seq ?? 0;
  const res = await server.call(stack.team, request.method, request.path, request.body);
  if (res.status !== 202) {
    io.err(
      `teamstack: ${(res.body as { message?: string })?.message ?? `the server answered ${res.status}`}\n`,
    );
    return 1;
  }
  if (!values.json)
    io.err(`started ${(res.body as { executionName: string }).executionName} on ${server.url}\n`);
  output?.begin(stack, DOING[machineOf(request)]);
  const follow = async (): Promise<void> => {
    for (const e of await engine.store.listEvents(stack, seq)) {
      seq = Math.max(seq, e.seq);
      output?.event(stack, e);
    }
  };
  // The run takes the stack's lock with the next run number and releases it when it ends. One that
  // never starts (refused by a run that came first) leaves the stack as it was.
  const since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    await follow();
    const now = await engine.store.getStack(stack);
    if (!now || (now.run > stack.run && !now.lock)) break;
    if (now.run === stack.run && !now.lock && Date.now() - since > START_WAIT_MS) {
      output?.stop();
      io.err(
        `teamstack: the run did not start within ${START_WAIT_MS / 1000} s; see \`teamstack status ${stack.stackId}\`\n`,
      );
      return 1;
    }
  }
  await follow();
  return finish(engine, stack, values, io);
}

/** The machine a request to `serve` runs. */
function machineOf(request: { readonly method: string; readonly path: string }): StackMachine {
  if (request.method === "DELETE") return "destroy";
  return request.path.endsWith("/stop") ? "stop" : request.path.endsWith("/start") ? "start" : "provision";
}

/** How long a command waits for the run it asked `serve` for to take the stack. */
const START_WAIT_MS = 60_000;

/** A command that runs one of the state machines on an existing stack: rerun and down. */
function machineCommand(name: string, summary: string, machine: "provision" | "destroy"): Command {
  return {
    name,
    summary,
    usage: `teamstack ${name} ID [--json] [--state-dir DIR] [--endpoint URL]`,
    options: { ...common, endpoint: { type: "string" } },
    help: [RUN_JSON_HELP, STATE_DIR_HELP, ENDPOINT_HELP],
    async run(values, ids, io) {
      if (ids.length !== 1) throw new UsageError("give one stack ID");
      return withEngine(values, io, async (engine, seen) => {
        const stack = await findStack(engine, ids[0] as string);
        // A rerun would make a stopped server again from scratch.
        if (machine === "provision" && isStopped(stack.status)) {
          throw new UsageError(
            `stack ${stack.stackId} is ${stack.status.toLowerCase()}; start it first: npx teamstack start ${stack.stackId}`,
          );
        }
        const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
        const path = `/teams/${stack.team}/stacks/${stack.stackId}`;
        if (server) {
          const request =
            machine === "provision" ? { method: "POST", path: `${path}/rerun` } : { method: "DELETE", path };
          return throughServer(server, engine, stack, request, values, io);
        }
        const key = { team: stack.team, stackId: stack.stackId };
        return runGuarded(name, engine, key, machine, seen, values, io, async () => {
          const outcome = await engine[machine](key);
          if (outcome.status === "FAILED" && outcome.error === "StackLockedError") {
            io.err(`teamstack ${name}: ${outcome.cause}\n`);
            return 1;
          }
          return finish(engine, key, values, io);
        });
      });
    },
  };
}

export const rerunCommand = machineCommand(
  "rerun",
  "Run a stack again: create what is missing, keep what is ready.",
  "provision",
);

export const downCommand = machineCommand(
  "down",
  "Destroy a stack's servers: every sandbox, process and file.",
  "destroy",
);
