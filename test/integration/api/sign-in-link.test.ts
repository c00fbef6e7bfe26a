import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopLocalStore } from "../../../src/local/dynamo.ts";
import { oneTimeDir } from "../../../src/local/one-time.ts";
import { BIN, ROOT, runCli } from "../../support/cli.ts";
import { checkedFetch } from "../../support/openapi-check.ts";

// The one-time sign-in links of a real `teamstack serve` process: the one it prints at start, and
// those `teamstack token --link` mints through it, each traded once for a token.
let stateDir: string;
let serve: ChildProcess;
let url: string;
let stderr = "";

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "teamstack-link-"));
  serve = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state-dir", stateDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  serve.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    serve.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    serve.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
});

afterAll(async () => {
  serve?.kill("SIGTERM");
  await new Promise((r) => serve?.once("exit", r));
  await stopLocalStore(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
});

const redeem = async (code: string) => {
  const res = await checkedFetch(`${url}/auth/one-time`, { method: "POST", body: JSON.stringify({ code }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const codeOf = (link: string) => {
  const m = /#\/signin\?code=([A-Za-z0-9_-]+)$/.exec(link);
  if (!m) throw new Error(`not a sign-in link: ${link}`);
  return m[1] as string;
};

describe("one-time sign-in links", () => {
  it("prints a link at start that signs the local user in once as the local team's admin", async () => {
    // The URL goes to stdout before the link to stderr: wait for the link's line.
    while (!/console: +\S+/.test(stderr)) await new Promise((r) => serve.stderr?.once("data", r));
    const link = /console: +(\S+)/.exec(stderr)?.[1] as string;
    expect(link.startsWith(`${url}/#/signin?code=`)).toBe(true);
    const code = codeOf(link);
    const first = await redeem(code);
    expect(first.status).toBe(200);
    const user = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/.test(userInfo().username)
      ? userInfo().username
      : "admin";
    expect(first.body).toMatchObject({ team: "local", member: user, admin: true });
    const who = await checkedFetch(`${url}/whoami`, {
      headers: { authorization: `Bearer ${first.body.token}` },
    });
    expect(await who.json()).toEqual({ team: "local", member: user, admin: true });
    expect((await redeem(code)).status).toBe(401);
    // Only hashes are kept: no file of the state directory's one-time folder names the code.
    for (const name of await readdir(oneTimeDir(stateDir))) expect(name).not.toContain(code);
  });

  it("mints a link through the running serve with `token --link`, for the member and role asked", async () => {
    const out = await runCli([
      "token",
      "--link",
      "--team",
      "acme",
      "--member",
      "alice",
      "--state-dir",
      stateDir,
    ]);
    expect(out.code).toBe(0);
    const link = out.stdout.trim();
    expect(link.startsWith(`${url}/#/signin?code=`)).toBe(true);
    const session = await redeem(codeOf(link));
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ team: "acme", member: "alice", admin: false });
    expect((await redeem(codeOf(link))).status).toBe(401);
    // serve's log never shows a code it redeemed.
    expect(stderr).not.toContain(codeOf(link));
  });

  it("refuses --link when no serve runs on the state directory, saying so", async () => {
    const empty = mkdtempSync(join(tmpdir(), "teamstack-link-none-"));
    try {
      const out = await runCli(["token", "--link", "--state-dir", empty]);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("no `teamstack serve` is running");
      expect(out.stdout).toBe("");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
