import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { stopLocalStore } from "../../src/local/dynamo.ts";
import { BIN, ROOT, runCli } from "../support/cli.ts";

/**
 * Browser tests' support: Debian's Chromium driven by playwright-core, a real `teamstack serve`
 * process on 127.0.0.1 with its own state directory, and a screenshot of every page a test visits
 * (test-results/screenshots, not committed).
 */

export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here (undefined: they can); under CI they must. */
export const NO_CHROMIUM = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)`;
if (NO_CHROMIUM && process.env.CI) throw new Error(`the browser tests cannot run in CI: ${NO_CHROMIUM}`);
export const SCREENSHOTS = join(ROOT, "test-results", "screenshots");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

export interface Serve {
  readonly url: string;
  readonly stateDir: string;
  /** What serve printed on stderr so far (for a failing test's message). */
  log(): string;
  /** A bearer token from `teamstack token` on this state directory. */
  token(team: string, member: string, admin?: boolean): Promise<string>;
  /** Runs `teamstack ARGS --state-dir DIR`. */
  cli(args: readonly string[], timeoutMs?: number): ReturnType<typeof runCli>;
  /** Stops serve, tears down the stacks left, stops the store and removes the state directory. */
  close(): Promise<void>;
}

/** Starts `teamstack serve --port 0` on a fresh state directory and waits for its URL. */
export async function startServe(options: { readonly allowLocal?: boolean } = {}): Promise<Serve> {
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-browser-"));
  const args = [BIN, "serve", "--port", "0", "--state-dir", stateDir];
  if (options.allowLocal) args.push("--allow-local");
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve printed no URL in 30 s:\n${stderr}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
  const cli = (a: readonly string[], timeoutMs?: number) =>
    runCli([...a, "--state-dir", stateDir], timeoutMs);
  return {
    url,
    stateDir,
    log: () => stderr,
    cli,
    async token(team, member, admin = false) {
      const r = await cli(["token", "--team", team, "--member", member, ...(admin ? ["--admin"] : [])]);
      if (r.code !== 0) throw new Error(`teamstack token failed: ${r.stderr}`);
      return r.stdout.trim().split("\n").at(-1) as string;
    },
    async close() {
      child.kill("SIGTERM");
      await exited;
      const list = await cli(["list", "--json"]);
      for (const s of JSON.parse(list.stdout || "[]") as { stackId: string; status: string }[]) {
        if (s.status !== "DESTROYED") await cli(["down", s.stackId], 60_000);
      }
      await stopLocalStore(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Gives the page a signed-in session before any of its scripts run (as the sign-in page leaves it). */
export async function signInWithToken(page: Page, token: string): Promise<void> {
  await page.addInitScript((t: string) => sessionStorage.setItem("teamstack.token", t), token);
}

/** Saves a full-page screenshot as test-results/screenshots/NAME.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name.replace(/[^A-Za-z0-9_.-]+/g, "-")}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Collects what the page logs as errors and every uncaught exception, for a test to check none
 * happened (a CSP violation shows as a console error).
 */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}
