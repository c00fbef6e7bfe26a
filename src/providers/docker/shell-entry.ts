// The shell helper: `node shell-entry.ts ENDPOINT|- CONTAINER` (`-`: this machine's engine, from the environment) bridges this terminal to an
// interactive shell in the container through the Engine's exec (see shell.ts).
import { readFileSync } from "node:fs";
import { endpointFromEnv, parseEndpoint } from "./endpoint.ts";
import { DockerEngine } from "./engine.ts";
import { StreamDemuxer } from "./stream.ts";

const [where = "-", container = ""] = process.argv.slice(2);
const endpoint =
  where === "-"
    ? endpointFromEnv(process.env, (p) => {
        try {
          return readFileSync(p, "utf8");
        } catch {
          return undefined;
        }
      })
    : parseEndpoint(where, "the shell's endpoint");
const engine = new DockerEngine(endpoint);
const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;

try {
  const exec = await engine.json<{ Id: string }>("POST", `/containers/${container}/exec`, {
    body: {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      Env: [`TERM=${process.env.TERM ?? "xterm"}`, "HOME=/root"],
      Cmd: [
        "sh",
        "-c",
        'cd "$HOME" 2>/dev/null || cd /; if command -v bash >/dev/null 2>&1; then exec bash -i; else exec sh -i; fi',
      ],
    },
  });
  const socket = await engine.hijack(`/exec/${exec.Id}/start`, { Detach: false, Tty: tty });
  const resize = (): void => {
    if (!tty) return;
    void engine.call("POST", `/exec/${exec.Id}/resize`, {
      query: { h: process.stdout.rows, w: process.stdout.columns },
    });
  };
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdout.on("resize", resize);
    resize();
    socket.on("data", (d: Buffer) => process.stdout.write(d));
  } else {
    const demux = new StreamDemuxer((stream, d) => (stream === 2 ? process.stderr : process.stdout).write(d));
    socket.on("data", (d: Buffer) => demux.push(d));
  }
  process.stdin.on("data", (d: Buffer) => socket.write(d));
  process.stdin.on("end", () => socket.end());
  await new Promise<void>((resolve) => socket.on("close", () => resolve()));
  if (tty) process.stdin.setRawMode(false);
  const done = await engine.json<{ ExitCode?: number | null }>("GET", `/exec/${exec.Id}/json`);
  process.exitCode = done.ExitCode ?? 1;
} catch (err) {
  process.stderr.write(`teamstack shell: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  process.stdin.destroy();
  engine.close();
}
