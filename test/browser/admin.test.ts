import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkedFetch } from "../support/openapi-check.ts";
import {
  launchBrowser,
  NO_CHROMIUM,
  type Serve,
  screenshot,
  signInWithToken,
  startServe,
  watchPageErrors,
} from "./support.ts";

// The "Done when" for admins, in Debian's Chromium against a real `teamstack serve`: an
// admin types a template with a bad reference and sees the error at its line and column, fixes it,
// publishes it, sets it as the default, and watches a rollout of it finish over the stacks of its
// older version (made first, on the sim provider). Every page visited is saved as a screenshot.

const TEAM = "acme";
const V1 = "servers:\n  - name: db\n    provider: sim\n    type: t3.micro\n";
/** What the admin types, up to the bad reference's line (the editor keeps each new line's indentation). */
const TYPED_HEAD = [
  "servers:",
  "  - name: db",
  "    provider: sim",
  "    type: t3.micro",
  "  - name: web",
  "    provider: sim",
  "    type: t3.micro",
  "    options: { boot_ms: 1500 }",
  "    user_data: |",
  "      ",
].join("\n");
const BAD_LINE = "echo $servers.nosuch.IP >> /etc/config";

let serve: Serve;
let browser: Browser;
let token: string;

interface StackRow {
  readonly stackId: string;
  readonly member: string;
  readonly status: string;
  readonly template: string | null;
  readonly version: number | null;
}

async function api<T>(method: string, path: string, body?: string | object): Promise<T> {
  const res = await checkedFetch(`${serve.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(typeof body === "string"
        ? { "content-type": "text/yaml" }
        : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Reads the team's stacks until `done` holds (each read is an answer from serve, not a sleep), for at most `ms`. */
async function stacksUntil(done: (stacks: StackRow[]) => boolean, ms = 60_000): Promise<StackRow[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const stacks = await api<StackRow[]>("GET", `/teams/${TEAM}/stacks`);
    if (done(stacks)) return stacks;
    if (Date.now() > deadline) throw new Error(`stacks never got there: ${JSON.stringify(stacks)}`);
    await new Promise((r) => setImmediate(r));
  }
}

beforeAll(async () => {
  serve = await startServe();
  token = await serve.token(TEAM, "root", true);
  await api("PUT", `/teams/${TEAM}/templates/web`, V1);
  for (const member of ["alice", "bob"]) {
    await api("POST", `/teams/${TEAM}/stacks`, { template: "web", member });
  }
  await stacksUntil((s) => s.length === 2 && s.every((x) => x.status === "SUCCEEDED"));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await serve?.close();
}, 180_000);

async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = watchPageErrors(page);
  await signInWithToken(page, token);
  await page.goto(`${serve.url}/#${path}`);
  return { page, errors };
}

describe.skipIf(NO_CHROMIUM)("the admin's console", () => {
  it("edits a template with validation as it is typed, publishes it, sets the default and watches its rollout finish", async () => {
    const { page, errors } = await open("/templates");
    await page.getByRole("link", { name: "web" }).waitFor();
    await screenshot(page, "admin-01-templates");

    await page.getByRole("link", { name: "web" }).click();
    await page.getByRole("heading", { name: "Template web" }).waitFor();
    await screenshot(page, "admin-02-template");

    await page.getByRole("link", { name: "Edit as a new version" }).click();
    const editor = page.getByRole("textbox", { name: "Template YAML" });
    await page.getByText("Starting from v1.").waitFor();
    expect(await editor.inputValue()).toBe(V1);

    // Typed: the head pasted in, the bad line typed key by key at its end.
    await editor.fill(TYPED_HEAD);
    await page.keyboard.press("Control+End");
    await page.keyboard.type(BAD_LINE);
    // Waits for the problem of the whole line (a keystroke's text in between would name another server).
    const message =
      "Line 10, column 12: server `web`: `$servers.nosuch.IP` names unknown server `nosuch`; servers are: db, web";
    const problem = page.getByRole("list", { name: "Problems" }).getByRole("button");
    await problem.filter({ hasText: message }).waitFor();
    expect(await problem.allTextContents()).toEqual([message]);
    expect(await page.getByRole("status").filter({ hasText: "1 problem" }).count()).toBe(1);
    expect(await page.locator('.editor-marker[data-line="10"]').count()).toBe(1);
    expect(await page.getByRole("button", { name: "Publish" }).isDisabled()).toBe(true);
    await screenshot(page, "admin-03-editor-error");

    // The problem, clicked, puts the caret on the reference: the fix is typed there.
    await problem.click();
    const caret = await editor.evaluate((el: HTMLTextAreaElement) => [el.selectionStart, el.selectionEnd]);
    const text = await editor.inputValue();
    expect(caret).toEqual([text.indexOf("$servers.nosuch"), text.indexOf("$servers.nosuch")]);
    for (let i = 0; i < "$servers.".length; i++) await page.keyboard.press("ArrowRight");
    for (let i = 0; i < "nosuch".length; i++) await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.type("db");
    await page.getByRole("status").filter({ hasText: "No problems (2 servers)" }).waitFor();
    expect(await page.locator(".editor-marker").count()).toBe(0);
    expect(await editor.inputValue()).toBe(`${TYPED_HEAD}echo $servers.db.IP >> /etc/config`);
    await screenshot(page, "admin-04-editor-fixed");

    await page.getByRole("button", { name: "Publish" }).click();
    await page.getByText("Published version 2.").waitFor();
    await page.getByRole("heading", { name: "Template web" }).waitFor();
    const published = await api<{ yaml: string }>("GET", `/teams/${TEAM}/templates/web?version=2`);
    expect(published.yaml).toBe(`${TYPED_HEAD}echo $servers.db.IP >> /etc/config`);

    await page.getByRole("button", { name: "Set v2 as default" }).click();
    await page.getByText("Version 2 is now the team's default template.").waitFor();
    const row = page.getByRole("table", { name: "Versions" }).getByRole("row").filter({ hasText: "v2" });
    await row.getByText("Default", { exact: true }).waitFor();
    const listed = await api<{ name: string; defaultVersion?: number }[]>("GET", `/teams/${TEAM}/templates`);
    expect(listed.find((t) => t.name === "web")?.defaultVersion).toBe(2);

    // The difference between v1 and v2, as the admin compares them.
    const diff = page.getByRole("region", { name: "Changes from v1 to v2" });
    await diff.getByText("0 lines removed, 6 added").waitFor();
    await page.getByText("2 stacks on an older version: alice (v1), bob (v1).").waitFor();
    await screenshot(page, "admin-05-template-published");
    await diff.getByRole("radio", { name: "Side by side" }).check();
    const rows = diff.getByRole("table").locator("tbody tr");
    expect(await rows.count()).toBe(10);
    expect(await rows.nth(9).locator("td").allTextContents()).toEqual([
      "",
      "",
      "10",
      "      echo $servers.db.IP >> /etc/config",
    ]);
    await screenshot(page, "admin-05b-diff-side-by-side");

    await page.getByRole("button", { name: "Start rollout" }).click();
    await page.waitForURL(/#\/rollouts\/ro-[0-9a-f]+$/);
    // Watched without reloading: running first, then finished as the stream (or polling) brings it.
    await page.getByRole("status").filter({ hasText: "Rollout running" }).waitFor();
    await screenshot(page, "admin-06-rollout-running");
    await page
      .getByRole("status")
      .filter({ hasText: "Rollout finished: SUCCEEDED (2 of 2 stacks updated)." })
      .waitFor({ timeout: 90_000 });
    const states = await page
      .getByRole("table", { name: "Stacks in the rollout" })
      .locator("tbody tr td:nth-child(5)")
      .allTextContents();
    expect(states).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    await screenshot(page, "admin-07-rollout-finished");

    const stacks = await stacksUntil((s) => s.every((x) => x.status === "SUCCEEDED"));
    expect(stacks.map((s) => [s.member, s.version]).sort()).toEqual([
      ["alice", 2],
      ["bob", 2],
    ]);
    // No script error and no CSP violation (404s of optional routes a console probes are not errors here).
    expect(errors.filter((e) => !e.includes("status of 404"))).toEqual([]);
    await page.close();
  }, 180_000);

  it("writes a new template from the starter and publishes it as version 1", async () => {
    const { page, errors } = await open("/new-template");
    await page.getByRole("status").filter({ hasText: "No problems (2 servers)" }).waitFor();
    // No name yet: nothing to publish.
    expect(await page.getByRole("button", { name: "Publish" }).isDisabled()).toBe(true);
    await page.getByRole("textbox", { name: "Name" }).fill("starter");
    await screenshot(page, "admin-09-new-template");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.getByText("Published version 1.").waitFor();
    await page.getByRole("heading", { name: "Template starter" }).waitFor();
    const v1 = await api<{ yaml: string; author: string }>(
      "GET",
      `/teams/${TEAM}/templates/starter?version=1`,
    );
    expect(v1.author).toBe("root");
    expect(v1.yaml).toContain("$servers.db.IP");
    expect(errors.filter((e) => !e.includes("status of 404"))).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows rollouts, members, policy, credentials (never a secret value) and events", async () => {
    const externalId = "ext-id-never-shown-0123456789";
    await api("PUT", `/teams/${TEAM}/credentials/main`, {
      roleArn: "arn:aws:iam::123456789012:role/teamstack-console",
      externalId,
      region: "eu-west-1",
    });
    const pages: [string, string][] = [
      ["/rollouts", "Rollouts"],
      ["/members", "Members"],
      ["/policy", "Policy"],
      ["/credentials", "Credentials"],
      ["/events", "Events"],
    ];
    for (const [path, heading] of pages) {
      const { page } = await open(path);
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      await page.waitForFunction(() => document.querySelector("[aria-busy='true']") === null);
      await screenshot(page, `admin-08-${heading.toLowerCase()}`);
      expect(await page.content()).not.toContain(externalId);
      if (path === "/policy") {
        expect(await page.getByRole("checkbox", { name: "sim" }).isChecked()).toBe(true);
        expect(await page.getByRole("checkbox", { name: /^docker/ }).isChecked()).toBe(true);
        expect(await page.getByRole("checkbox", { name: /^ssh/ }).isChecked()).toBe(true);
        expect(await page.getByRole("checkbox", { name: /^aws/ }).isChecked()).toBe(false);
        await page.getByRole("checkbox", { name: /^local/ }).uncheck();
        await page.getByRole("combobox", { name: /When a member leaves/ }).selectOption("stop");
        await page.getByRole("button", { name: "Save policy" }).click();
        await page.getByText("Saved the team's policy.").waitFor();
        await screenshot(page, "admin-08-policy-saved");
        const saved = await api<{ providers: string[]; onMemberLeft: string }>(
          "GET",
          `/teams/${TEAM}/policy`,
        );
        expect([saved.providers, saved.onMemberLeft]).toEqual([["sim", "docker", "ssh"], "stop"]);
      }
      if (path === "/rollouts") {
        await page.getByRole("table", { name: "Rollouts" }).getByText("SUCCEEDED").waitFor();
      }
      await page.close();
    }
  }, 120_000);

  it("registers a Docker host with its secret key, lists it with the key marked secret, never shows the key, and removes it", async () => {
    const canary = "console-key-canary-4d1f9e";
    const key = `-----BEGIN PRIVATE KEY-----\n${canary}\n-----END PRIVATE KEY-----`;
    const { page, errors } = await open("/credentials");
    const answers: Promise<string>[] = [];
    page.on("response", (r) => {
      if (r.url().includes("/credentials")) answers.push(r.text().catch(() => ""));
    });
    await page.getByRole("heading", { name: "Credentials", exact: true }).waitFor();
    const form = page.getByRole("form", { name: "Register a credential" });
    await form.getByLabel("Name", { exact: true }).fill("builder");
    await form.getByRole("combobox", { name: "Provider" }).selectOption("docker");
    await form.getByLabel(/^endpoint/).fill("tcp://127.0.0.1:2376");
    await form.getByLabel(/^ca/).fill("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----");
    await form.getByLabel(/^cert/).fill("-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----");
    const secretInput = form.getByLabel(/^key \(secret\)/);
    expect(await secretInput.evaluate((e) => e.tagName)).toBe("TEXTAREA");
    await secretInput.fill(key);
    await screenshot(page, "admin-10-credential-form");
    await form.getByRole("button", { name: "Register" }).click();
    await page.getByText("Registered credential builder.").waitFor();
    const row = page.getByRole("table", { name: "Credentials" }).getByRole("row", { name: /builder/ });
    await row.getByText("secret").waitFor();
    expect(await row.textContent()).toMatch(/docker.*endpoint, ca, cert, key/);
    await screenshot(page, "admin-11-credential-registered");
    // The key went to the API once, and nothing holds it since: not the page, not an answer.
    expect(await page.content()).not.toContain(canary);
    const stored = await api<{ credentials: { name: string; provider: string; fields: string[] }[] }>(
      "GET",
      `/teams/${TEAM}/credentials`,
    );
    expect(stored.credentials.find((c) => c.name === "builder")).toMatchObject({
      provider: "docker",
      fields: ["endpoint", "ca", "cert", "key"],
    });
    expect(JSON.stringify(stored)).not.toContain(canary);

    await row.getByRole("button", { name: "Remove builder" }).click();
    await page
      .getByRole("dialog", { name: "Remove credential builder?" })
      .getByRole("button", { name: "Remove" })
      .click();
    await page.getByText("Removed credential builder.").waitFor();
    await page.getByRole("row", { name: /builder/ }).waitFor({ state: "detached" });
    const after = await api<{ credentials: { name: string }[] }>("GET", `/teams/${TEAM}/credentials`);
    expect(after.credentials.map((c) => c.name)).not.toContain("builder");
    for (const text of await Promise.all(answers)) expect(text).not.toContain(canary);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
