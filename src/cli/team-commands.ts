import { basename } from "node:path";
import { formatProblem, type Problem } from "../core/errors.ts";
import { loadTemplate, MAX_TEMPLATE_BYTES, tooLarge } from "../core/validate.ts";
import { ON_MEMBER_LEFT } from "../ports/store.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { readJsonFile, readTemplateBytes } from "./files.ts";
import { findRunningServer, type RunningServer } from "./server-client.ts";
import { DEFAULT_TEAM, ENDPOINT_HELP, STATE_DIR_HELP } from "./stack-commands.ts";
import { suggestion } from "./suggest.ts";

/**
 * What only curl reached before: a team's templates, its members' data and its policy, through a
 * running `teamstack serve` (or the API at `--endpoint`), as the team's admin: `templates push |
 * list | show | default`, `members set`, `policy set | show`.
 */

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const VERSION = /^[1-9][0-9]{0,9}$/;

const COMMON = {
  team: { type: "string" },
  json: { type: "boolean" },
  "state-dir": { type: "string" },
  endpoint: { type: "string" },
} as const;

const COMMON_HELP: readonly (readonly [string, string])[] = [
  ["--team NAME", `The team (default: ${DEFAULT_TEAM}).`],
  ["--json", "Print the API's answer as JSON on stdout."],
  STATE_DIR_HELP,
  ENDPOINT_HELP,
];

type Answer = { status: number; body: unknown };

/** The API's message in an answer other than success, with its problems at their places. */
function failure(command: string, res: Answer, io: Io, file?: string): number {
  const body = (res.body ?? {}) as { message?: string; problems?: Problem[] };
  if (Array.isArray(body.problems))
    for (const p of body.problems) io.err(`${formatProblem(file ? { ...p, file } : p)}\n`);
  io.err(`teamstack ${command}: ${body.message ?? `the server answered ${res.status}`}\n`);
  return 1;
}

/** The running serve (or --endpoint) to call; an error that says how to start one when there is none. */
async function serverFor(command: string, values: Values, io: Io): Promise<RunningServer | undefined> {
  const server = await findRunningServer(
    values["state-dir"] as string,
    values.endpoint as string | undefined,
  );
  if (!server)
    io.err(
      `teamstack ${command}: this goes through the team's API: start it on this state directory (npx teamstack serve) and run this again, or give --endpoint URL\n`,
    );
  return server;
}

function teamOf(values: Values): string {
  const team = (values.team as string | undefined) ?? DEFAULT_TEAM;
  if (!NAME.test(team))
    throw new UsageError(`--team \`${team}\`: use letters, digits, _, . and - (at most 63)`);
  return team;
}

function nameArg(what: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`give the ${what} NAME`);
  if (!NAME.test(value))
    throw new UsageError(`${what} \`${value}\`: use letters, digits, _, . and - (at most 63)`);
  return value;
}

function versionOf(values: Values): number | undefined {
  const raw = values.version as string | undefined;
  if (raw === undefined) return undefined;
  if (!VERSION.test(raw)) throw new UsageError(`--version \`${raw}\`: expected a version number (1, 2, ...)`);
  return Number(raw);
}

/** Refuses flags that the verb does not take, naming the verbs that do. */
function only(values: Values, verb: string, allowed: Record<string, readonly string[]>): void {
  for (const [flag, verbs] of Object.entries(allowed)) {
    if (values[flag] !== undefined && !verbs.includes(verb))
      throw new UsageError(
        `--${flag} applies to ${verbs.map((v) => `\`${v}\``).join(" and ")}, not \`${verb}\``,
      );
  }
}

function print(values: Values, io: Io, body: unknown, text: string): void {
  io.out(values.json ? `${JSON.stringify(body, null, 2)}\n` : text);
}

/** The template name a file is pushed as: --name, or the file's name without .yaml. */
function templateName(given: string | undefined, file: string): string {
  if (given !== undefined) return nameArg("--name", given);
  const stem = basename(file).replace(/\.ya?ml$/i, "");
  if (!NAME.test(stem))
    throw new UsageError(`${file}: cannot make a template name of the file's name; give --name NAME`);
  return stem;
}

const TEMPLATE_VERBS = ["push", "list", "show", "default"] as const;

export const templatesCommand: Command = {
  name: "templates",
  summary: "Manage the team's templates through its API: push a version, list, show, choose the default.",
  usage:
    "teamstack templates push FILE [--name NAME] | templates list | templates show NAME [--version N] | templates default NAME [--version N]  [--team NAME] [--json] [--state-dir DIR] [--endpoint URL]",
  verbs: TEMPLATE_VERBS,
  options: { ...COMMON, name: { type: "string" }, version: { type: "string" } },
  help: [
    ["--name NAME", "push: the template's name (default: the file's name without .yaml)."],
    ["--version N", "show: that version's text; default: that version (default: the newest)."],
    ...COMMON_HELP,
  ],
  async run(values, args, io) {
    const [verb, ...rest] = args;
    if (verb === undefined || !(TEMPLATE_VERBS as readonly string[]).includes(verb))
      throw new UsageError(
        `${verb === undefined ? "give a verb" : `unknown verb \`${verb}\``}: expected ${TEMPLATE_VERBS.join(", ")}${verb === undefined ? "" : suggestion(verb, TEMPLATE_VERBS)}`,
      );
    only(values, verb, { name: ["push"], version: ["show", "default"] });
    const team = teamOf(values);
    const version = versionOf(values);
    const base = `/teams/${team}/templates`;
    if (verb === "list") {
      if (rest.length > 0) throw new UsageError("templates list takes no arguments");
      const server = await serverFor("templates list", values, io);
      if (!server) return 1;
      const res = await server.call(team, "GET", base);
      if (res.status !== 200) return failure("templates list", res, io);
      const rows = res.body as {
        name: string;
        latest: number;
        updatedAt: string;
        default: boolean;
        defaultVersion?: number;
      }[];
      if (!values.json && rows.length === 0) {
        io.err(`team ${team} has no templates; publish one with: teamstack templates push FILE\n`);
        return 0;
      }
      const width = Math.max(4, ...rows.map((r) => r.name.length));
      print(
        values,
        io,
        rows,
        rows
          .map(
            (r) =>
              `${r.name.padEnd(width)}  v${String(r.latest).padEnd(4)} ${r.updatedAt}${r.default ? `  default: v${r.defaultVersion}` : ""}\n`,
          )
          .join(""),
      );
      return 0;
    }
    if (verb === "push") {
      const [file, ...extra] = rest;
      if (file === undefined || extra.length > 0) throw new UsageError("give one template FILE");
      const name = templateName(values.name as string | undefined, file);
      const read = await readTemplateBytes(file, MAX_TEMPLATE_BYTES);
      if (read.tooLarge) {
        io.err(`${formatProblem({ file, line: 1, column: 1, message: tooLarge(read.size) })}\n`);
        return 1;
      }
      // Checked here first, so that problems point into the user's file.
      const loaded = loadTemplate(read.bytes, file, PROVIDERS);
      if (!loaded.template) {
        io.err(loaded.problems.map((p) => `${formatProblem(p)}\n`).join(""));
        io.err(
          `teamstack templates push: ${file} was not published (${loaded.problems.length} problem(s))\n`,
        );
        return 1;
      }
      const server = await serverFor("templates push", values, io);
      if (!server) return 1;
      const res = await server.call(team, "PUT", `${base}/${name}`, new TextDecoder().decode(read.bytes), {
        contentType: "application/yaml",
      });
      if (res.status !== 201 && res.status !== 200) return failure("templates push", res, io, file);
      const out = res.body as { name: string; version: number; hash: string };
      print(
        values,
        io,
        out,
        res.status === 201
          ? `published ${out.name} version ${out.version} for team ${team} (sha256 ${out.hash.slice(0, 12)})\n`
          : `${out.name}: version ${out.version} has this text already; nothing published\n`,
      );
      return 0;
    }
    const name = nameArg("template", rest[0]);
    if (rest.length > 1) throw new UsageError(`templates ${verb} takes one template NAME`);
    const server = await serverFor(`templates ${verb}`, values, io);
    if (!server) return 1;
    if (verb === "default") {
      const res = await server.call(
        team,
        "POST",
        `${base}/${name}/default`,
        version === undefined ? {} : { version },
      );
      if (res.status !== 200) return failure("templates default", res, io);
      const out = res.body as { name: string; version: number };
      print(values, io, out, `team ${team}'s default template is now ${out.name} version ${out.version}\n`);
      return 0;
    }
    const res = await server.call(
      team,
      "GET",
      `${base}/${name}${version === undefined ? "" : `?version=${version}`}`,
    );
    if (res.status !== 200) return failure("templates show", res, io);
    const body = res.body as {
      name: string;
      defaultVersion?: number;
      versions?: { version: number; hash: string; author: string; createdAt: string }[];
      version?: number;
      yaml?: string;
    };
    if (version !== undefined) {
      if (typeof body.yaml === "string") {
        print(values, io, body, body.yaml.endsWith("\n") ? body.yaml : `${body.yaml}\n`);
        return 0;
      }
      // An API that answers only the list of versions: say what it knows of that one.
      const v = body.versions?.find((x) => x.version === version);
      if (!v) {
        io.err(
          `teamstack templates show: template \`${name}\` of team \`${team}\` has no version ${version}\n`,
        );
        return 1;
      }
      print(values, io, v, `${name} v${v.version}  sha256 ${v.hash}  by ${v.author}  ${v.createdAt}\n`);
      io.err("(this API does not give a version's text)\n");
      return 0;
    }
    const versions = body.versions ?? [];
    print(
      values,
      io,
      body,
      [
        `template ${body.name} of team ${team}${body.defaultVersion !== undefined ? ` (the default: v${body.defaultVersion})` : ""}\n`,
        ...versions.map(
          (v) =>
            `  v${String(v.version).padEnd(4)} ${v.hash.slice(0, 12)}  ${v.author}  ${v.createdAt}${v.version === body.defaultVersion ? "  default" : ""}\n`,
        ),
      ].join(""),
    );
    return 0;
  },
};

/** Member data from a JSON file: `{"KEY":"value"}`, numbers and booleans taken as text. */
async function memberData(file: string): Promise<Record<string, string>> {
  const json = await readJsonFile(file);
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw new UsageError(`${file}: expected member data as {"KEY":"value"}`);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean")
      throw new UsageError(
        `${file}: \`${key}\` is ${value === null ? "null" : Array.isArray(value) ? "a list" : "an object"}; expected text, a number or true/false`,
      );
    out[key] = String(value);
  }
  return out;
}

export const membersCommand: Command = {
  name: "members",
  summary: "Set a member's data (for $koding.userdata.*) through the team's API.",
  usage:
    "teamstack members set MEMBER --userdata FILE.json [--team NAME] [--json] [--state-dir DIR] [--endpoint URL]",
  verbs: ["set"],
  options: { ...COMMON, userdata: { type: "string" } },
  help: [
    [
      "--userdata FILE",
      'The member\'s data as {"KEY":"value"}; it replaces what was set. Secrets go through `teamstack secrets set`.',
    ],
    ...COMMON_HELP,
  ],
  async run(values, args, io) {
    const [verb, member, ...rest] = args;
    if (verb !== "set")
      throw new UsageError(
        `${verb === undefined ? "give a verb" : `unknown verb \`${verb}\``}: expected set${verb === undefined ? "" : suggestion(verb, ["set"])}`,
      );
    const name = nameArg("member", member);
    if (rest.length > 0) throw new UsageError("members set takes one MEMBER");
    const file = values.userdata as string | undefined;
    if (file === undefined) throw new UsageError("give the member's data with --userdata FILE.json");
    const team = teamOf(values);
    const data = await memberData(file);
    const server = await serverFor("members set", values, io);
    if (!server) return 1;
    const res = await server.call(team, "PUT", `/teams/${team}/members/${name}`, data);
    if (res.status !== 200) return failure("members set", res, io);
    const keys = Object.keys(data);
    print(
      values,
      io,
      res.body,
      `member ${name} of team ${team}: data set (${keys.length === 0 ? "no keys" : keys.join(", ")})\n`,
    );
    return 0;
  },
};

interface PolicyView {
  readonly team: string;
  readonly providers: readonly string[];
  readonly onMemberLeft?: string;
  readonly default?: boolean;
  readonly usable?: { readonly admins: readonly string[]; readonly members: readonly string[] };
}

function policyText(p: PolicyView): string {
  return [
    `team ${p.team}${p.default ? " (no policy set: the default)" : ""}`,
    `  providers:      ${p.providers.length === 0 ? "(none)" : p.providers.join(", ")}`,
    ...(p.onMemberLeft ? [`  on_member_left: ${p.onMemberLeft}`] : []),
    ...(p.usable
      ? [
          `  usable here:    admins ${p.usable.admins.join(", ") || "(none)"}; members ${p.usable.members.join(", ") || "(none)"}`,
        ]
      : []),
  ]
    .map((l) => `${l}\n`)
    .join("");
}

export const policyCommand: Command = {
  name: "policy",
  summary: "Show or set the team's policy (which providers its templates may use, on_member_left).",
  usage:
    "teamstack policy set [--providers aws,local] [--on-member-left destroy|stop|keep] | policy show  [--team NAME] [--json] [--state-dir DIR] [--endpoint URL]",
  verbs: ["set", "show"],
  options: { ...COMMON, providers: { type: "string" }, "on-member-left": { type: "string" } },
  help: [
    [
      "--providers LIST",
      `set: the providers the team's templates may use, comma-separated (of ${PROVIDERS.names.join(", ")}); "" allows none. Default: unchanged.`,
    ],
    [
      "--on-member-left WHAT",
      `set: what a member leaving does to their stacks: ${ON_MEMBER_LEFT.join(", ")}. Default: unchanged.`,
    ],
    ...COMMON_HELP,
  ],
  async run(values, args, io) {
    const [verb, ...rest] = args;
    if (verb !== "set" && verb !== "show")
      throw new UsageError(
        `${verb === undefined ? "give a verb" : `unknown verb \`${verb}\``}: expected set or show${verb === undefined ? "" : suggestion(verb, ["set", "show"])}`,
      );
    if (rest.length > 0) throw new UsageError(`policy ${verb} takes no arguments`);
    only(values, verb, { providers: ["set"], "on-member-left": ["set"] });
    const team = teamOf(values);
    const path = `/teams/${team}/policy`;
    let providers: string[] | undefined;
    const onMemberLeft = values["on-member-left"] as string | undefined;
    if (verb === "set") {
      const raw = values.providers as string | undefined;
      if (raw === undefined && onMemberLeft === undefined)
        throw new UsageError("give --providers LIST, --on-member-left WHAT, or both");
      if (raw !== undefined) {
        providers = raw
          .split(",")
          .map((p) => p.trim())
          .filter((p) => p !== "");
        const unknown = providers.filter((p) => !PROVIDERS.canonical(p));
        if (unknown.length > 0)
          throw new UsageError(
            `--providers: unknown provider${unknown.length === 1 ? "" : "s"} ${unknown.map((p) => `\`${p}\``).join(", ")}; expected any of ${PROVIDERS.names.join(", ")}${unknown.length === 1 ? suggestion(unknown[0] as string, PROVIDERS.names) : ""}`,
          );
      }
      if (onMemberLeft !== undefined && !(ON_MEMBER_LEFT as readonly string[]).includes(onMemberLeft))
        throw new UsageError(
          `--on-member-left \`${onMemberLeft}\`: expected one of ${ON_MEMBER_LEFT.join(", ")}${suggestion(onMemberLeft, ON_MEMBER_LEFT)}`,
        );
    }
    const server = await serverFor(`policy ${verb}`, values, io);
    if (!server) return 1;
    if (verb === "show" || providers === undefined) {
      const res = await server.call(team, "GET", path);
      if (res.status !== 200) return failure(`policy ${verb}`, res, io);
      if (verb === "show") {
        print(values, io, res.body, policyText(res.body as PolicyView));
        return 0;
      }
      // Only on_member_left changes: the providers stay as they are.
      providers = [...(res.body as PolicyView).providers];
    }
    const res = await server.call(team, "PUT", path, {
      providers,
      ...(onMemberLeft !== undefined ? { on_member_left: onMemberLeft } : {}),
    });
    if (res.status !== 200) return failure("policy set", res, io);
    print(values, io, res.body, policyText(res.body as PolicyView));
    return 0;
  },
};
