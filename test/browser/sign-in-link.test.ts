import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  launchBrowser,
  NO_CHROMIUM,
  type Serve,
  screenshot,
  startServe,
  watchPageErrors,
} from "./support.ts";

// The one-time sign-in links in a real Chromium against a real `teamstack serve`: the link serve
// prints at start and one from `teamstack token --link` each sign a tab in, once.
let serve: Serve;
let browser: Browser;

beforeAll(async () => {
  serve = await startServe();
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await serve?.close();
});

/**
 * serve's start-up link from its stderr: written before the URL on stdout, but the two pipes may
 * arrive in either order, so its text is checked until it has come (bounded).
 */
async function printedLink(): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const m = /console: +(\S+)/.exec(serve.log());
    if (m) return m[1] as string;
    if (Date.now() > until) throw new Error(`serve printed no sign-in link:\n${serve.log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The signed-in caller as the page's own session sees it (GET /whoami with the stored token). */
const whoami = (page: import("playwright-core").Page) =>
  page.evaluate(async () => {
    const token = sessionStorage.getItem("teamstack.token");
    const res = await fetch("/whoami", { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as unknown };
  });

describe.skipIf(NO_CHROMIUM)("one-time links in the browser", () => {
  it("signs in with the link serve prints, takes the code off the address bar, and refuses it in a second tab", async () => {
    const link = await printedLink();
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = watchPageErrors(page);
    await page.goto(link);
    await page.waitForFunction(() => sessionStorage.getItem("teamstack.token") !== null);
    expect(page.url()).not.toContain("code=");
    const who = await whoami(page);
    expect(who).toMatchObject({ status: 200, body: { team: "local", admin: true } });
    await screenshot(page, "signin-one-time-link");
    // The same link again, in a fresh tab: used up.
    const second = await context.newPage();
    await second.goto(link);
    await second.waitForFunction(() => /unknown, used or expired/.test(document.body.textContent ?? ""));
    expect(await second.evaluate(() => sessionStorage.getItem("teamstack.token"))).toBeNull();
    await screenshot(second, "signin-one-time-link-used");
    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
    await context.close();
  });

  it("signs a member in with a link from `teamstack token --link`", async () => {
    const out = await serve.cli(["token", "--link", "--team", "acme", "--member", "alice"]);
    expect(out.code, out.stderr).toBe(0);
    const page = await browser.newPage();
    await page.goto(out.stdout.trim());
    await page.waitForFunction(() => sessionStorage.getItem("teamstack.token") !== null);
    expect(await whoami(page)).toEqual({
      status: 200,
      body: { team: "acme", member: "alice", admin: false },
    });
    await page.close();
  });
});
