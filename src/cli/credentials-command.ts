import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { checkCredential, credentialProviders } from "../core/credentials.ts";
import {
  type CredentialView,
  listCredentialViews,
  registerCredential,
  removeCredential,
} from "../credentials/team-credentials.ts";
import { openLocalEngine } from "../local/engine.ts";
import { PROVIDERS } from "../providers/registry.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { findRunningServer } from "./server-client.ts";
import { DEFAULT_TEAM, ENDPOINT_HELP, STATE_DIR_HELP } from "./stack-commands.ts";
import { suggestion } from "./suggest.ts";

/**
 * `teamstack credentials set | list | rm`: a team's credentials for any provider (a Docker host,
 * an SSH host, the aws role), on the local state directory (its store and sealed secrets file),
 * or through the team's API with `--endpoint`. Secret fields are read from files or stdin, never
 * from the command line, and never printed.
 */

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const VERBS = ["set", "list", "rm"] as const;

function teamOf(values: Values): string {
  const team = (values.team as string | undefined) ?? DEFAULT_TEAM;
  if (!NAME.test(team))
    throw new UsageError(`--team \`${team}\`: use letters, digits, _, . and - (at most 63)`);
  return team;
}

/** `key=value` pairs of a repeated flag, by key. */
function pairs(flag: string, given: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of (given as string[] | undefined) ?? []) {
    const at = raw.indexOf("=");
    if (at <= 0) throw new UsageError(`--${flag} \`${raw.slice(0, 80)}\`: expected KEY=VALUE`);
    const key = raw.slice(0, at);
    if (out.has(key)) throw new UsageError(`--${flag} ${key}: given twice`);
    out.set(key, raw.slice(at + 1));
  }
  return out;
}

/** stdin, whole and as it is (a key's last newline is part of the key). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The body of a `set`: `provider`, the --field values and the secret fields read from their files. */
async function bodyOf(values: Values): Promise<Record<string, string>> {
  const named = values.provider as string | undefined;
  if (named === undefined) {
    throw new UsageError(
      `credentials set needs --provider NAME (one of ${credentialProviders(PROVIDERS).join(", ")})`,
    );
  }
  const declaration = PROVIDERS.lookup(named);
  const takers = credentialProviders(PROVIDERS);
  if (!declaration?.credentials) {
    throw new UsageError(
      `--provider \`${named}\`: ${declaration ? "takes no team credentials" : "no such provider"}; expected one of ${takers.join(", ")}${declaration ? "" : suggestion(named, takers)}`,
    );
  }
  const schema = declaration.credentials.fields;
  const fields = pairs("field", values.field);
  const files = pairs("secret-file", values["secret-file"]);
  for (const key of fields.keys()) {
    if (schema[key]?.secret === true) {
      throw new UsageError(
        `--field ${key}: \`${key}\` is a secret field of ${declaration.name} credentials; give it with --secret-file ${key}=PATH (or =- for stdin), never on the command line`,
      );
    }
  }
  const body: Record<string, string> = { provider: declaration.name, ...Object.fromEntries(fields) };
  const fromStdin = [...files].filter(([, path]) => path === "-");
  if (fromStdin.length > 1) throw new UsageError("--secret-file: only one secret can be read from stdin (-)");
  for (const [key, path] of files) {
    if (fields.has(key)) throw new UsageError(`${key}: given with both --field and --secret-file`);
    if (schema[key] !== undefined && schema[key].secret !== true) {
      throw new UsageError(
        `--secret-file ${key}: \`${key}\` is not a secret field; give it with --field ${key}=VALUE`,
      );
    }
    let value: string;
    try {
      value = path === "-" ? await readStdin() : await readFile(resolve(path), "utf8");
    } catch (error) {
      throw new UsageError(
        `--secret-file ${key}=${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    if (value === "") throw new UsageError(`--secret-file ${key}=${path}: it is empty`);
    body[key] = value;
  }
  return body;
}

/** A credential in a line: name, provider, non-secret values, the names of the secret fields set. */
function line(c: CredentialView): string {
  const values = Object.entries(c.values).map(([k, v]) => `${k}=${v}`);
  return `${c.name}  ${c.provider}  ${values.join(" ") || "-"}  secret: ${c.secretFields.join(", ") || "-"}  ${c.updatedAt}\n`;
}

export const credentialsCommand: Command = {
  name: "credentials",
  summary: "Manage a team's credentials for providers (secret fields kept, never printed): set, list, rm.",
  usage:
    "teamstack credentials set NAME --provider P [--field KEY=VALUE]... [--secret-file KEY=PATH]...  |  credentials list [--json]  |  credentials rm NAME  [--team T] [--state-dir DIR] [--endpoint URL]",
  verbs: VERBS,
  options: {
    team: { type: "string" },
    provider: { type: "string" },
    field: { type: "string", multiple: true },
    "secret-file": { type: "string", multiple: true },
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    endpoint: { type: "string" },
  },
  help: [
    ["--team NAME", `The team (default: ${DEFAULT_TEAM}).`],
    [
      "--provider NAME",
      `set: the provider the credential is for: ${credentialProviders(PROVIDERS).join(", ")} (\`teamstack providers\` lists each one's credential fields).`,
    ],
    ["--field KEY=VALUE", "set: a non-secret field (repeat for each)."],
    [
      "--secret-file KEY=PATH",
      "set: a secret field, read whole from a file (PATH `-`: from stdin); secret values are never taken on the command line.",
    ],
    ["--json", "Print the credential(s) as JSON on stdout (never a secret value)."],
    STATE_DIR_HELP,
    ENDPOINT_HELP,
  ],
  async run(values, args, io) {
    const [verb, name, ...rest] = args;
    if (!(VERBS as readonly string[]).includes(verb ?? "")) {
      throw new UsageError(
        `${verb === undefined ? "give a verb" : `unknown verb \`${verb}\``}: expected set, list or rm${verb === undefined ? "" : suggestion(verb, VERBS)}`,
      );
    }
    if (rest.length > 0) throw new UsageError(`credentials ${verb} takes one NAME at most`);
    if (verb !== "set") {
      for (const flag of ["provider", "field", "secret-file"]) {
        if (values[flag] !== undefined) throw new UsageError(`--${flag} is for credentials set only`);
      }
    }
    if (verb === "list" && name !== undefined) throw new UsageError("credentials list takes no NAME");
    if (verb !== "list" && (name === undefined || !NAME.test(name))) {
      throw new UsageError(
        name === undefined
          ? `credentials ${verb} needs the credential's NAME`
          : `NAME \`${name}\`: use letters, digits, _, . and - (at most 63)`,
      );
    }
    const team = teamOf(values);
    const body = verb === "set" ? await bodyOf(values) : undefined;
    const checked = body === undefined ? undefined : checkCredential(PROVIDERS, body);
    if (checked?.ok === false) {
      io.err(`teamstack credentials set: credential \`${name}\`: ${checked.problems.join("; ")}\n`);
      return 1;
    }
    const endpoint = values.endpoint as string | undefined;
    if (endpoint !== undefined) return viaApi(values, io, verb as (typeof VERBS)[number], team, name, body);
    const engine = await openLocalEngine({ stateDir: resolve(values["state-dir"] as string) });
    try {
      const deps = { store: engine.store, secrets: engine.secrets, catalog: PROVIDERS };
      if (checked?.ok === true && name !== undefined) {
        const view = await registerCredential(deps, team, name, checked.credential);
        return done(values, io, view, `stored team ${team}'s ${view.provider} credential ${name}`);
      }
      if (verb === "rm" && name !== undefined) {
        if (!(await removeCredential(deps, team, name))) {
          io.err(`teamstack credentials rm: team ${team} has no credential ${name}\n`);
          return 1;
        }
        io.err(`removed team ${team}'s credential ${name}\n`);
        return 0;
      }
      const list = await listCredentialViews(deps, team);
      if (values.json) io.out(`${JSON.stringify(list, null, 2)}\n`);
      else for (const c of list) io.out(line(c));
      return 0;
    } finally {
      await engine.close();
    }
  },
};

function done(values: Values, io: Io, view: CredentialView, said: string): number {
  io.err(
    `${said}${view.secretFields.length > 0 ? ` (secret fields set: ${view.secretFields.join(", ")})` : ""}\n`,
  );
  if (values.json) io.out(`${JSON.stringify(view, null, 2)}\n`);
  return 0;
}

/** The same through the team's API (`--endpoint`), as its admin. */
async function viaApi(
  values: Values,
  io: Io,
  verb: (typeof VERBS)[number],
  team: string,
  name: string | undefined,
  body: Record<string, string> | undefined,
): Promise<number> {
  const server = await findRunningServer(values["state-dir"] as string, values.endpoint as string);
  if (!server) {
    io.err(`teamstack credentials ${verb}: no teamstack API answers at ${values.endpoint as string}\n`);
    return 1;
  }
  const path = `/teams/${team}/credentials${name !== undefined ? `/${name}` : ""}`;
  const res = await server.call(team, verb === "set" ? "PUT" : verb === "rm" ? "DELETE" : "GET", path, body);
  if (res.status !== 200) {
    const message = (res.body as { message?: string } | undefined)?.message;
    io.err(`teamstack credentials ${verb}: ${message ?? `the server answered ${res.status}`}\n`);
    return 1;
  }
  if (verb === "set") {
    const view = res.body as CredentialView;
    return done(values, io, view, `stored team ${team}'s ${view.provider} credential ${name}`);
  }
  if (verb === "rm") {
    io.err(`removed team ${team}'s credential ${name}\n`);
    return 0;
  }
  const list = (res.body as { credentials: CredentialView[] }).credentials;
  if (values.json) io.out(`${JSON.stringify(list, null, 2)}\n`);
  else for (const c of list) io.out(line(c));
  return 0;
}
