import { userInfo } from "node:os";
import { resolve } from "node:path";
import { ApiError } from "../api/errors.ts";
import { checkSchema, type Schema } from "../api/json-schema.ts";
import { signingKey, signJwt } from "../api/jwt.ts";
import { describeMemberLeft } from "../api/offboard.ts";
import { ROUTES } from "../api/routes.ts";
import type { InboundEvent, SignupEvent } from "../api/service.ts";
import { ERROR_NAMES } from "../core/error-names.ts";
import { localStackService, signingKeyFile, startLocalApiServer } from "../local/api-server.ts";
import { openLocalEngine } from "../local/engine.ts";
import { mintOneTimeCode, signInPath } from "../local/one-time.ts";
import { type Command, type Io, UsageError, type Values } from "./command.ts";
import { readJsonFile } from "./files.ts";
import { findRunningServer } from "./server-client.ts";
import { DEFAULT_TEAM } from "./stack-commands.ts";

const STATE_DIR_HELP: readonly [string, string] = [
  "--state-dir DIR",
  "Where local stacks live (default: the nearest .teamstack folder here or above, then $TEAMSTACK_STATE_DIR, then ~/.local/state/teamstack).",
];
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

function stateDirOf(values: Values): string {
  return resolve(typeof values["state-dir"] === "string" ? values["state-dir"] : ".teamstack");
}

export const serveCommand: Command = {
  name: "serve",
  summary: "Serve the HTTP API on this machine (the same handler as API Gateway runs).",
  usage: "teamstack serve [--port N] [--host 127.0.0.1] [--allow-local] [--state-dir DIR]",
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "allow-local": { type: "boolean" },
    "state-dir": { type: "string" },
  },
  help: [
    ["--port N", "Port to listen on (default 8787; 0 picks a free one)."],
    ["--host ADDR", "Address to listen on (default 127.0.0.1)."],
    [
      "--allow-local",
      "Offer the local provider (servers on this machine) to members too, not only to team admins. For single-user machines.",
    ],
    STATE_DIR_HELP,
  ],
  async run(values, args, io) {
    if (args.length > 0) throw new UsageError("serve takes no arguments");
    const port = Number(values.port ?? 8787);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port \`${values.port}\`: expected 0-65535`);
    const allowLocal = values["allow-local"] === true;
    const engine = await openLocalEngine({
      stateDir: stateDirOf(values),
      log: (line) => io.err(`teamstack serve: ${line}\n`),
    });
    let server: Awaited<ReturnType<typeof startLocalApiServer>>;
    try {
      server = await startLocalApiServer({
        engine,
        port,
        host: (values.host as string | undefined) ?? "127.0.0.1",
        log: (line) => io.err(`${line}\n`),
        allowLocal,
      });
    } catch (error) {
      await engine.close();
      throw error;
    }
    // The operator signs in to the console as the local team's admin with a one-time link.
    const code = await mintOneTimeCode(engine.stateDir, {
      team: DEFAULT_TEAM,
      member: localUser(),
      admin: true,
    });
    io.err(
      `teamstack serve: listening on ${server.url} (state ${engine.stateDir})\n` +
        `  local servers: offered to ${allowLocal ? "members and team admins (--allow-local)" : "team admins only (--allow-local offers them to members)"}\n` +
        `  console:      ${server.url}${signInPath(code)}  (signs in ${localUser()}, admin of team ${DEFAULT_TEAM}; works once, for 10 minutes)\n` +
        "  get a token:  npx teamstack token --team TEAM --member NAME [--admin]   (--link: a new sign-in link)\n",
    );
    io.out(`${server.url}\n`);
    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once("SIGINT", () => done("SIGINT"));
      process.once("SIGTERM", () => done("SIGTERM"));
    });
    // A second signal does not wait for anything.
    process.once("SIGINT", () => process.exit(130));
    process.once("SIGTERM", () => process.exit(143));
    io.err(
      `teamstack serve: stopping (${signal}); running stacks stop where they are and show as INTERRUPTED: \`teamstack rerun ID\` resumes one\n`,
    );
    // A hung stack must not keep serve from stopping: its run stops, its lock stays for a rerun.
    engine.stopRuns(new ServeStoppedError(signal));
    await server.close();
    await engine.close();
    return 0;
  },
};

/** Why the runs of a stopping `serve` end: they stop where they are; `rerun` takes them over. */
class ServeStoppedError extends Error {
  constructor(signal: NodeJS.Signals) {
    super(`teamstack serve stopped (${signal})`);
    this.name = ERROR_NAMES.ServeStoppedError;
  }
}

/** The user running the command, as a member name (`admin` when the login name is not one). */
function localUser(): string {
  const name = userInfo().username;
  return NAME.test(name) ? name : "admin";
}

export const tokenCommand: Command = {
  name: "token",
  summary:
    "Print a bearer token for the local API (signed with the state directory's key), or with --link a one-time sign-in link to the console of the running serve.",
  usage:
    "teamstack token --team TEAM --member NAME [--admin] [--expires HOURS] [--state-dir DIR] | token --link [--team TEAM] [--member NAME] [--admin]",
  options: {
    team: { type: "string" },
    member: { type: "string" },
    admin: { type: "boolean" },
    expires: { type: "string" },
    link: { type: "boolean" },
    "state-dir": { type: "string" },
  },
  help: [
    ["--team TEAM", `The team the token is for (with --link, default ${DEFAULT_TEAM}).`],
    ["--member NAME", "The member it identifies (with --link, default the current user)."],
    ["--admin", "A team admin's token (templates, everyone's stacks)."],
    ["--expires HOURS", "Lifetime in hours (default 12)."],
    [
      "--link",
      "Print a one-time link that signs in to the console of the `teamstack serve` running on the state directory (works once, for 10 minutes).",
    ],
    STATE_DIR_HELP,
  ],
  async run(values, args, io) {
    if (args.length > 0) throw new UsageError("token takes no arguments");
    if (values.link === true) return printLink(values, io);
    const team = values.team as string | undefined;
    const member = values.member as string | undefined;
    if (!team || !NAME.test(team)) throw new UsageError("give --team TEAM (letters, digits, _, . and -)");
    if (!member || !NAME.test(member))
      throw new UsageError("give --member NAME (letters, digits, _, . and -)");
    const hours = Number(values.expires ?? 12);
    if (!(hours > 0 && hours <= 24 * 365))
      throw new UsageError(`--expires \`${values.expires}\`: expected hours, more than 0`);
    const key = await signingKey(signingKeyFile(stateDirOf(values)));
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(
      {
        sub: member,
        "teamstack:team": team,
        "teamstack:admin": values.admin === true,
        iat: now,
        exp: now + Math.round(hours * 3600),
      },
      key,
    );
    io.out(`${token}\n`);
    return 0;
  },
};

async function printLink(values: Values, io: Io): Promise<number> {
  if (values.expires !== undefined)
    throw new UsageError("--expires does not apply to --link (links last 10 minutes)");
  const team = (values.team as string | undefined) ?? DEFAULT_TEAM;
  const member = (values.member as string | undefined) ?? localUser();
  if (!NAME.test(team))
    throw new UsageError(`--team \`${team}\`: use letters, digits, _, . and - (at most 63)`);
  if (!NAME.test(member))
    throw new UsageError(`--member \`${member}\`: use letters, digits, _, . and - (at most 63)`);
  const stateDir = stateDirOf(values);
  const server = await findRunningServer(stateDir);
  if (!server) {
    io.err(
      `teamstack token: no \`teamstack serve\` is running on ${stateDir}; start one (\`teamstack serve\`), then ask for a link again\n`,
    );
    return 1;
  }
  const code = await mintOneTimeCode(stateDir, { team, member, admin: values.admin === true });
  io.out(`${server.url}${signInPath(code)}\n`);
  return 0;
}

const eventsSchema = ROUTES.find((r) => r.path === "/events")?.body as Schema;

export const eventsCommand: Command = {
  name: "events",
  summary:
    "Deliver a team event, signed up or left (`events put FILE.json`), or list the events teamstack sent (`events list`).",
  usage:
    "teamstack events put FILE.json [--endpoint URL] | events list [--team NAME] [--json] [--state-dir DIR]",
  options: {
    json: { type: "boolean" },
    "state-dir": { type: "string" },
    endpoint: { type: "string" },
    team: { type: "string" },
  },
  help: [
    ["--json", "Print the events as JSON."],
    ["--team NAME", "list: that team's events only (default: every team's)."],
    STATE_DIR_HELP,
    [
      "--endpoint URL",
      "put: deliver through this `teamstack serve` (default: the one running here, if any).",
    ],
  ],
  async run(values, args, io) {
    const [verb, file, ...rest] = args;
    if (verb === "put") {
      if (!file || rest.length > 0) throw new UsageError("give one event FILE.json");
      const event = await readJsonFile(file);
      const problem = checkSchema(event, eventsSchema, file);
      if (problem)
        throw new UsageError(
          `${problem}; expected a "Team Member Signed Up" or "Team Member Left" event (see the README)`,
        );
      const server = await findRunningServer(stateDirOf(values), values.endpoint as string | undefined);
      if (server) {
        const team = (event as SignupEvent).detail.team;
        const res = await server.call(team, "POST", "/events", event);
        if (res.status !== 202) {
          io.err(
            `teamstack events put: ${(res.body as { message?: string })?.message ?? `the server answered ${res.status}`}\n`,
          );
          return 1;
        }
        io.err(`event ${(event as SignupEvent).id}: delivered to ${server.url}\n`);
        io.out(`${JSON.stringify(res.body)}\n`);
        return 0;
      }
      const engine = await openLocalEngine({ stateDir: stateDirOf(values) });
      try {
        const runs: Promise<unknown>[] = [];
        // The operator delivers it on their own machine, as `up` runs there: local is offered.
        const service = localStackService(
          engine,
          {
            async start(machine, key, _name, input) {
              runs.push(
                machine === "provision"
                  ? engine.provision(key)
                  : machine === "destroy"
                    ? engine.destroy(key)
                    : input?.action === "start"
                      ? engine.start(key)
                      : engine.stop(key),
              );
            },
          },
          { localForMembers: true },
        );
        const out = await service.deliver(event as InboundEvent);
        io.err(
          `event ${(event as SignupEvent).id}: ${"stackId" in out ? `stack ${out.stackId}` : describeMemberLeft(out)}\n`,
        );
        await Promise.all(runs);
        io.out(`${JSON.stringify(out)}\n`);
        return 0;
      } catch (error) {
        if (error instanceof ApiError) {
          io.err(`teamstack events put: ${error.message}\n`);
          return 1;
        }
        throw error;
      } finally {
        await engine.close();
      }
    }
    if (verb === "list") {
      if (args.length > 1) throw new UsageError("events list takes no arguments");
      const engine = await openLocalEngine({ stateDir: stateDirOf(values) });
      try {
        const events = await engine.store.listOutboundEvents(values.team as string | undefined);
        if (values.json) io.out(`${JSON.stringify(events, null, 2)}\n`);
        else
          for (const e of events)
            io.out(`${e.time}  ${e.detailType.padEnd(17)} ${JSON.stringify(e.detail)}\n`);
        return 0;
      } finally {
        await engine.close();
      }
    }
    throw new UsageError(
      verb === undefined ? "give put FILE.json or list" : `unknown events command \`${verb}\``,
    );
  },
};
