import { createHash } from "node:crypto";
import { formatProblem, type Problem } from "../core/errors.ts";
import type { TemplatePlan } from "../core/plan.ts";
import { describeUnstoppable, unstoppableServers } from "../core/power.ts";
import { type RenderData, renderText, renderValue } from "../core/render.ts";
import type { Template } from "../core/template.ts";
import { loadTemplate, MAX_TEMPLATE_BYTES, tooLarge } from "../core/validate.ts";
import { changeSetOf, versionOf } from "../pipeline/changes.ts";
import { compileStackRecord } from "../pipeline/template.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { formatChangeSet } from "./change-set-output.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { FileError, readJsonFile, readTemplateBytes } from "./files.ts";
import { formatPlan, PLAN_FORMATS, type PlanFormat } from "./format-plan.ts";
import { findStack, withEngine } from "./stack-commands.ts";

/**
 * Reads and validates one template file against the registry's providers; problems are returned,
 * unreadable files throw FileError. A valid template comes with its plan.
 */
export async function loadTemplateFile(file: string): Promise<{
  template?: Template;
  plan?: TemplatePlan;
  problems: readonly Problem[];
  notes?: readonly Problem[];
}> {
  const read = await readTemplateBytes(file, MAX_TEMPLATE_BYTES);
  if (read.tooLarge) return { problems: [{ file, line: 1, column: 1, message: tooLarge(read.size) }] };
  const { template, plan, problems, notes } = loadTemplate(read.bytes, file, PROVIDERS);
  const noted = notes ? { notes } : {};
  return template && plan ? { template, plan, problems, ...noted } : { problems, ...noted };
}

function printProblems(problems: readonly Problem[], io: Io): void {
  io.err(problems.map((p) => `${formatProblem(p)}\n`).join(""));
}

/** Loads one template (with its plan) or prints its problems; undefined means "exit 1". */
async function templateOrProblems(
  file: string,
  io: Io,
): Promise<{ template: Template; plan: TemplatePlan } | undefined> {
  const { template, plan, problems } = await loadTemplateFile(file);
  if (!template || !plan) {
    printProblems(problems, io);
    io.err(`${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n`);
    return undefined;
  }
  return { template, plan };
}

export const validateCommand: Command = {
  name: "validate",
  summary: "Check stack templates and report every problem with its line and column.",
  usage: "teamstack validate FILE... [--json]",
  options: { json: { type: "boolean" } },
  help: [
    [
      "--json",
      'Print {"valid","problems":[{"file","line","column","message"}],"notes"?:[{"file","line"?,"column"?,"message"}]} on stdout.',
    ],
  ],
  async run(values: Values, files: string[], io: Io): Promise<number> {
    if (files.length === 0) throw new UsageError("give at least one template FILE");
    const problems: Problem[] = [];
    const unreadable: string[] = [];
    // Not problems: what a valid template's stacks cannot do (stop and start).
    const notes: { file: string; line?: number; column?: number; message: string }[] = [];
    for (const file of files) {
      try {
        const loaded = await loadTemplateFile(file);
        // One by one: a template can have more problems than a call can take arguments.
        for (const p of loaded.problems) problems.push(p);
        // A provider's other name, once per template (as the seed writes `virtualbox/localhost`);
        // a template with problems gets its problems only.
        if (loaded.template) for (const n of loaded.notes ?? []) notes.push(n);
        const unstoppable = loaded.template ? unstoppableServers(loaded.template.servers, PROVIDERS) : [];
        if (unstoppable.length > 0) {
          notes.push({
            file,
            message: `${unstoppable.length === 1 ? "server" : "servers"} ${describeUnstoppable(unstoppable)} cannot be stopped and started: \`teamstack stop\` refuses this template's stacks`,
          });
        }
      } catch (error) {
        // The other files are checked anyway; an unreadable one makes the exit code 2.
        if (!(error instanceof FileError)) throw error;
        unreadable.push(error.message);
      }
    }
    const valid = problems.length === 0 && unreadable.length === 0;
    if (values.json)
      io.out(`${JSON.stringify({ valid, problems, ...(notes.length > 0 ? { notes } : {}) }, null, 2)}\n`);
    else {
      if (problems.length > 0) printProblems(problems, io);
      for (const n of notes) {
        io.err(`${n.file}${n.line !== undefined ? `:${n.line}:${n.column}` : ""}: note: ${n.message}\n`);
      }
    }
    for (const message of unreadable) io.err(`teamstack validate: ${message}\n`);
    if (unreadable.length > 0) return 2;
    if (valid && !values.json) io.err(`${files.join(", ")}: valid\n`);
    return valid ? 0 : 1;
  },
};

/**
 * `plan FILE --stack ID`: the change set updating the stack to FILE would apply, from the stack's
 * records (the stack is not changed).
 */
async function planChanges(file: string, format: string, values: Values, io: Io): Promise<number> {
  if (format !== "text" && format !== "json")
    throw new UsageError(`--stack: unknown format \`${format}\`; expected text or json`);
  if (!(await templateOrProblems(file, io))) return 1;
  const read = await readTemplateBytes(file, MAX_TEMPLATE_BYTES);
  if (read.tooLarge) return 1;
  const yaml = new TextDecoder().decode(read.bytes);
  return withEngine({ ...values, json: true }, io, async (engine) => {
    const stack = await findStack(engine, values.stack as string);
    const key = { team: stack.team, stackId: stack.stackId };
    const hash = createHash("sha256").update(yaml).digest("hex");
    const next = { ...stack, templateYaml: yaml, templateFile: file, templateHash: hash };
    const [servers, hooks] = await Promise.all([engine.store.listServers(key), engine.store.listHooks(key)]);
    const changes = changeSetOf(
      versionOf(stack),
      { hash },
      servers,
      hooks,
      compileStackRecord(next, engine.providers.catalog),
    );
    io.out(format === "json" ? `${JSON.stringify(changes, null, 2)}\n` : formatChangeSet(changes));
    return 0;
  });
}

export const planCommand: Command = {
  name: "plan",
  summary:
    "Show which servers wait for which, the order, the levels and the critical path; with --stack, what updating that stack to FILE would change.",
  usage: `teamstack plan FILE [--format ${PLAN_FORMATS.join("|")}] [--stack ID [--state-dir DIR]]`,
  options: {
    format: { type: "string", short: "f" },
    json: { type: "boolean" },
    stack: { type: "string" },
    "state-dir": { type: "string" },
  },
  help: [
    ["-f, --format FORMAT", `${PLAN_FORMATS.join(", ")} (default text; with --stack, text or json)`],
    ["--json", "Same as --format json."],
    [
      "--stack ID",
      "Show the change set instead: per server keep, create, replace or delete, with the reasons, and which hooks run.",
    ],
    ["--state-dir DIR", "Where the stack lives (default ./.teamstack)."],
  ],
  async run(values: Values, files: string[], io: Io): Promise<number> {
    const file = single(files);
    const format = (values.json ? "json" : (values.format ?? "text")) as string;
    if (values.stack !== undefined) return planChanges(file, format, values, io);
    if (!(PLAN_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`unknown format \`${format}\`; expected one of ${PLAN_FORMATS.join(", ")}`);
    }
    const loaded = await templateOrProblems(file, io);
    if (!loaded) return 1;
    io.out(formatPlan(loaded.plan, format as PlanFormat));
    return 0;
  },
};

export const renderCommand: Command = {
  name: "render",
  summary: "Print a server's user_data, or a hook's parameters, with every reference replaced.",
  usage:
    "teamstack render FILE (--server NAME | --hook pre:N|post:N|destroy:N) [--artifacts FILE.json] [--userdata FILE.json]",
  options: {
    server: { type: "string", short: "s" },
    hook: { type: "string" },
    artifacts: { type: "string" },
    userdata: { type: "string" },
  },
  help: [
    ["-s, --server NAME", "Render this server's user_data."],
    [
      "--hook PHASE:N",
      "Render hook N (from 0, as `plan` lists them) of pre, post or destroy hooks, as JSON.",
    ],
    [
      "--artifacts FILE",
      'Artifacts as {"mysql":{"IP":"10.0.0.5"},"domainName":"..."} (default: placeholders).',
    ],
    ["--userdata FILE", 'Member data as {"KEY":"value"} (default: placeholders).'],
  ],
  async run(values: Values, files: string[], io: Io): Promise<number> {
    const file = single(files);
    const server = values.server as string | undefined;
    const hook = values.hook as string | undefined;
    if ((server === undefined) === (hook === undefined))
      throw new UsageError("give exactly one of --server or --hook");
    const hookMatch = hook === undefined ? undefined : /^(pre|post|destroy):(\d+)$/.exec(hook);
    if (hook !== undefined && !hookMatch)
      throw new UsageError(`--hook \`${hook}\`: expected pre:N, post:N or destroy:N`);
    const artifacts = values.artifacts ? await readArtifacts(values.artifacts as string) : undefined;
    const userdata = values.userdata ? await readUserdata(values.userdata as string) : undefined;
    const template = (await templateOrProblems(file, io))?.template;
    if (!template) return 1;
    const data: RenderData = {
      vars: template.vars,
      ...(artifacts ? { artifacts } : {}),
      ...(userdata ? { userdata } : {}),
    };
    if (server !== undefined) {
      const spec = template.servers.find((s) => s.name === server);
      if (!spec) {
        throw new UsageError(
          `no server \`${server}\` in ${file}; servers are: ${template.servers.map((s) => s.name).join(", ")}`,
        );
      }
      io.out(renderText(spec.userData, data));
      return 0;
    }
    const [, phase, n] = hookMatch as RegExpExecArray;
    const hooks =
      phase === "pre"
        ? template.preHooks
        : phase === "post"
          ? template.postHooks
          : (template.destroyHooks ?? []);
    const spec = hooks[Number(n)];
    if (!spec) {
      throw new UsageError(
        `${file} has ${hooks.length} ${phase}_hooks; --hook ${phase}:N takes N from 0 to ${hooks.length - 1}`,
      );
    }
    const params = renderValue(spec.params, data);
    io.out(`${JSON.stringify({ type: spec.type, ...(params as Record<string, unknown>) }, null, 2)}\n`);
    return 0;
  },
};

function single(files: string[]): string {
  if (files.length !== 1) {
    throw new UsageError(
      files.length === 0 ? "give a template FILE" : `give one template FILE, found ${files.length}`,
    );
  }
  return files[0] as string;
}

async function readArtifacts(file: string): Promise<Record<string, string | Record<string, string>>> {
  const json = await readJsonFile(file);
  const problem = (what: string): never => {
    throw new UsageError(
      `${file}: ${what}; expected artifacts as {"SERVER":{"IP":"10.0.0.5",...},"domainName":"..."} with string values`,
    );
  };
  if (json === null || typeof json !== "object" || Array.isArray(json)) return problem("not a JSON object");
  for (const [k, v] of Object.entries(json)) {
    if (typeof v === "string") continue;
    if (v === null || typeof v !== "object" || Array.isArray(v))
      problem(`\`${k}\` is neither a string nor an object`);
    for (const [a, x] of Object.entries(v as object)) {
      if (typeof x !== "string") problem(`\`${k}.${a}\` is not a string`);
    }
  }
  return json as Record<string, string | Record<string, string>>;
}

async function readUserdata(file: string): Promise<Record<string, string>> {
  const json = await readJsonFile(file);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UsageError(`${file}: not a JSON object; expected userdata as {"KEY":"value"}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(json)) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
      throw new UsageError(`${file}: \`${k}\` is not a string; expected userdata as {"KEY":"value"}`);
    }
    out[k] = String(v);
  }
  return out;
}
