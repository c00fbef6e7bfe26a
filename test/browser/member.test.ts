import { spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkLocalSupport } from "../../src/providers/local/support.ts";
import { BIN, ROOT } from "../support/cli.ts";
import { checkedFetch } from "../support/openapi-check.ts";
import {
  launchBrowser,
  NO_CHROMIUM,
  type Serve,
  screenshot,
  startServe,
  watchPageErrors,
} from "./support.ts";

// The member's half of the console's done-when: through a real `teamstack serve` and Debian's
// Chromium, octocat signs in, sees the example stack (examples/team-stack.yaml, as `npm start`
// runs it) as a graph with mysql before php and devrim, reads devrim's log, reruns the stack and
// watches it change without a reload. Each page visited is saved under test-results/screenshots.

const TEAM = "local";
const MEMBER = "octocat";
const TIMEOUT = 180_000;

let serve: Serve;
let browser: Browser;
let page: Page;
let errors: string[];
let stackId: string;

/** `teamstack secrets set` as `npm start` runs it, the value on stdin. */
function setSecret(stateDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, "secrets", "set", "--team", TEAM, "--member", MEMBER, "AWS_SECRET_KEY", "--state-dir", stateDir],
      { cwd: ROOT, stdio: [openSync(join(ROOT, "examples/octocat.AWS_SECRET_KEY"), "r"), "ignore", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`secrets set: ${code} ${err}`))));
  });
}

/** The status badge in the stack page's heading. */
const stackStatus = () => page.locator("h1 .badge");

beforeAll(async () => {
  serve = await startServe({ allowLocal: true });
  await setSecret(serve.stateDir);
  // As `npm start`: aws simulated; local sandboxes where this machine can make them, else sim too.
  const simulate = ["aws"];
  try {
    await checkLocalSupport();
  } catch {
    simulate.push("local");
  }
  const token = await serve.token(TEAM, MEMBER);
  const res = await checkedFetch(`${serve.url}/teams/${TEAM}/stacks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      yaml: readFileSync(join(ROOT, "examples/team-stack.yaml"), "utf8"),
      member: MEMBER,
      name: "team-stack",
      userdata: JSON.parse(readFileSync(join(ROOT, "examples/member.json"), "utf8")),
      simulate,
    }),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  stackId = ((await res.json()) as { stackId: string }).stackId;
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  errors = watchPageErrors(page);
}, TIMEOUT);

afterAll(async () => {
  await browser?.close();
  await serve?.close();
}, TIMEOUT);

describe.skipIf(NO_CHROMIUM)("the console, for a member", () => {
  it(
    "signs in with a token and lists the member's stacks",
    async () => {
      await page.goto(serve.url);
      await page.getByLabel("Token").fill(await serve.token(TEAM, MEMBER));
      await screenshot(page, "member-01-sign-in");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Your stacks" }).waitFor();
      expect(await page.locator("header").textContent()).toContain(`Signed in as ${MEMBER}`);
      const link = page.getByRole("link", { name: "team-stack" });
      await link.waitFor();
      const row = page.getByRole("row").filter({ has: link });
      expect(await row.textContent()).toMatch(/team-stack.*(RUNNING|SUCCEEDED)/);
      await screenshot(page, "member-02-stacks");
      await link.click();
      await page.getByRole("group", { name: "Servers and their dependencies" }).waitFor();
    },
    TIMEOUT,
  );

  it(
    "shows the example stack's graph, mysql before php and devrim, and every server's state",
    async () => {
      // The run finishes while the page is open: the graph follows without a reload.
      await stackStatus().filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 120_000 });
      const node = (name: string) => page.getByRole("button", { name: new RegExp(`^${name}: `) });
      for (const name of ["mysql", "php", "devrim"]) {
        await node(name)
          .filter({ has: page.locator('[class~="t-succeeded"]') })
          .waitFor();
        expect(await node(name).getAttribute("aria-label")).toMatch(new RegExp(`^${name}: SUCCEEDED, took `));
      }
      expect(await node("mysql").getAttribute("data-depth")).toBe("0");
      expect(await node("php").getAttribute("data-depth")).toBe("1");
      expect(await node("devrim").getAttribute("data-depth")).toBe("1");
      const box = async (name: string) => (await node(name).boundingBox()) as { x: number; width: number };
      const mysql = await box("mysql");
      for (const name of ["php", "devrim"])
        expect((await box(name)).x).toBeGreaterThan(mysql.x + mysql.width);
      // An edge from each server to mysql, which both reference.
      const edges = await page.locator("svg.graph path.edge title").allTextContents();
      expect(edges.sort()).toEqual(["devrim references mysql", "php references mysql"]);
      // The artifacts: each server's IP and Id, and the stack's domain name.
      const artifacts = page.getByRole("table", { name: "Artifacts" });
      for (const name of ["mysql", "php", "devrim"]) {
        const row = artifacts.getByRole("row").filter({ hasText: name });
        expect(await row.textContent()).toMatch(/SUCCEEDED.*\d+\.\d+\.\d+\.\d+/);
      }
      expect(await page.getByRole("definition").allTextContents()).toEqual(
        expect.arrayContaining([expect.stringMatching(/\S/)]),
      );
      expect(await page.getByRole("status").first().textContent()).toMatch(/^Ready after /);
      await screenshot(page, "member-03-stack-graph");
    },
    TIMEOUT,
  );

  it(
    "opens devrim's logs and shows its output",
    async () => {
      await page.getByRole("button", { name: "Logs of devrim" }).click();
      const log = page.getByRole("log", { name: "Output of devrim" });
      await log.filter({ hasText: "foo" }).waitFor({ timeout: 20_000 });
      expect(await log.textContent()).toContain("foo");
      expect(await page.getByRole("region", { name: "Logs of devrim" }).textContent()).toContain("complete");
      await screenshot(page, "member-04-devrim-logs");
    },
    TIMEOUT,
  );

  it(
    "reruns the stack and shows its states change without reloading",
    async () => {
      await page.evaluate(() => {
        (window as unknown as { notReloaded: boolean }).notReloaded = true;
        // Every status the heading shows from now on, in order.
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        const observe = () => {
          const text = document.querySelector("h1 .badge")?.textContent ?? "";
          if (seen.at(-1) !== text) seen.push(text);
        };
        new MutationObserver(observe).observe(document.body, {
          subtree: true,
          childList: true,
          characterData: true,
        });
        observe();
      });
      expect(await page.getByText(/^Run 1$/).count()).toBe(1);
      await page
        .getByRole("toolbar", { name: "Stack actions" })
        .getByRole("button", { name: "Rerun" })
        .click();
      await page.getByText(/^Run 2$/).waitFor({ timeout: 60_000 });
      await stackStatus().filter({ hasText: "SUCCEEDED" }).waitFor({ timeout: 120_000 });
      const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
      console.log(`stack statuses the page showed: ${seen.join(" → ")}`);
      expect(seen[0]).toBe("SUCCEEDED");
      expect(seen.at(-1)).toBe("SUCCEEDED");
      expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
        true,
      );
      expect(await page.getByRole("status").first().textContent()).toMatch(/^Ready after /);
      await screenshot(page, "member-05-after-rerun");
      // No uncaught error and no Content-Security-Policy violation on any page.
      expect(errors.filter((e) => e.startsWith("page error") || /Content Security Policy/i.test(e))).toEqual(
        [],
      );
      expect(stackId).toMatch(/\S/);
    },
    TIMEOUT,
  );
});
