import { parseExpiry } from "../core/validate/structure.ts";
import { extendExpiry } from "../pipeline/expiry.ts";
import { type PowerAction, powerRefusal } from "../pipeline/power.ts";
import { type Command, UsageError } from "./command.ts";
import { RUN_JSON_HELP } from "./ndjson.ts";
import { findRunningServer } from "./server-client.ts";
import { findStack, finish, runGuarded, throughServer, withEngine } from "./stack-commands.ts";

/**
 * `teamstack stop`, `start` and `extend`: stop and start a stack's servers through the power state
 * machine (through a running `teamstack serve` when there is one, as `rerun` and `down` do), and
 * push back its ttl and auto_stop.
 */

const common = {
  "state-dir": { type: "string" },
  json: { type: "boolean" },
  endpoint: { type: "string" },
} as const;
const HELP: readonly (readonly [string, string])[] = [
  ["--json", "Print the result as JSON on stdout."],
  [
    "--state-dir DIR",
    "Where local stacks live (default: the nearest .teamstack folder here or above, then $TEAMSTACK_STATE_DIR, then ~/.local/state/teamstack).",
  ],
  [
    "--endpoint URL",
    "Go through this `teamstack serve` (default: the one running on the state directory, if any).",
  ],
];

function powerCommand(action: PowerAction, summary: string): Command {
  return {
    name: action,
    summary,
    usage: `teamstack ${action} ID [--json] [--state-dir DIR] [--endpoint URL]`,
    options: common,
    help: [RUN_JSON_HELP, ...HELP.slice(1)],
    async run(values, ids, io) {
      if (ids.length !== 1) throw new UsageError("give one stack ID");
      return withEngine(values, io, async (engine, seen) => {
        const stack = await findStack(engine, ids[0] as string);
        // Refused here, before anything runs, with the reason (which servers cannot stop).
        const refusal =
          stack.lock && (await engine.executions.isRunning(stack.lock.execution))
            ? undefined
            : powerRefusal(
                { catalog: engine.providers.catalog },
                stack,
                await engine.store.listServers(stack),
                action,
              );
        if (refusal) {
          io.err(`teamstack ${action}: ${refusal}\n`);
          return 1;
        }
        const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
        if (server) {
          const path = `/teams/${stack.team}/stacks/${stack.stackId}/${action}`;
          return throughServer(server, engine, stack, { method: "POST", path }, values, io);
        }
        const key = { team: stack.team, stackId: stack.stackId };
        return runGuarded(action, engine, key, action, seen, values, io, async () => {
          const outcome = await engine[action](key);
          if (
            outcome.status === "FAILED" &&
            ["StackLockedError", "PowerRefusedError"].includes(outcome.error)
          ) {
            io.err(`teamstack ${action}: ${outcome.cause}\n`);
            return 1;
          }
          return finish(engine, key, values, io);
        });
      });
    },
  };
}

export const stopCommand = powerCommand(
  "stop",
  "Stop a stack's servers: their processes end, their files, Ids and addresses stay.",
);

export const startCommand = powerCommand(
  "start",
  "Start a stopped stack's servers again and run their on_start.",
);

export const extendCommand: Command = {
  name: "extend",
  summary: "Push back a stack's ttl and auto_stop by a duration (30m, 2h, 7d).",
  usage: "teamstack extend ID DURATION [--json] [--state-dir DIR] [--endpoint URL]",
  options: common,
  help: HELP as [string, string][],
  async run(values, args, io) {
    if (args.length !== 2) throw new UsageError("give a stack ID and a DURATION such as 2h");
    const [id, by] = args as [string, string];
    const seconds = parseExpiry(by);
    if (seconds === undefined || seconds > 366 * 86_400)
      throw new UsageError(`DURATION \`${by}\`: expected a duration such as 30m, 2h or 7d (at most 366d)`);
    return withEngine({ ...values, json: true }, io, async (engine) => {
      const stack = await findStack(engine, id);
      const server = await findRunningServer(engine.stateDir, values.endpoint as string | undefined);
      let out: { stackId?: string; expiresAt?: string; stopsAt?: string };
      if (server) {
        const res = await server.call(
          stack.team,
          "POST",
          `/teams/${stack.team}/stacks/${stack.stackId}/extend`,
          {
            by,
          },
        );
        if (res.status !== 200) {
          io.err(
            `teamstack extend: ${(res.body as { message?: string })?.message ?? `the server answered ${res.status}`}\n`,
          );
          return 1;
        }
        out = res.body as typeof out;
      } else {
        if (stack.status === "DESTROYED" || stack.status === "DESTROYING") {
          io.err(
            `teamstack extend: stack ${stack.stackId} is ${stack.status.toLowerCase()}; it has nothing to extend\n`,
          );
          return 1;
        }
        try {
          out = {
            stackId: stack.stackId,
            ...(await extendExpiry(
              { store: engine.store, events: { publish: async () => undefined }, now: () => new Date() },
              stack,
              seconds,
            )),
          };
        } catch (error) {
          io.err(`teamstack extend: ${(error as Error).message}\n`);
          return 1;
        }
      }
      if (values.json) io.out(`${JSON.stringify(out, null, 2)}\n`);
      else {
        if (out.expiresAt) io.out(`${stack.stackId}: destroyed at ${out.expiresAt} (ttl)\n`);
        if (out.stopsAt) io.out(`${stack.stackId}: stopped at ${out.stopsAt} (auto_stop)\n`);
      }
      return 0;
    });
  },
};
