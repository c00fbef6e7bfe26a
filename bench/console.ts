// Benchmark: the web console's first page with 100 stacks on a local `teamstack serve`, in Chromium.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { stopLocalStore } from "../src/local/dynamo.ts";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "teamstack.js");
const STACKS = 100;
const LOADS = 5;
const TTI_GOAL_MS = 1000;
const TEMPLATE = [
  "servers:",
  "  - { name: db, provider: sim, type: t3.micro }",
  "  - { name: app, provider: sim, type: t3.micro, user_data: 'echo $servers.db.IP' }",
  "  - { name: web, provider: sim, type: t3.micro, user_data: 'echo $servers.app.IP' }",
].join("\n");

/** Runs in the page before its scripts: notes when the stacks list has every row and a usable button. */
function watchInteractive(stacks: number): void {
  const w = window as unknown as { tti?: number };
  const check = () => {
    if (w.tti !== undefined) return;
    if (document.querySelectorAll("tbody tr").length < stacks) return;
    const button = document.querySelector<HTMLButtonElement>("tbody tr td.actions button");
    if (!button || button.disabled) return;
    const r = button.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (hit && (hit === button || button.contains(hit))) w.tti = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

async function startServe(stateDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--state-dir", stateDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  return { url, child };
}

export async function benchConsole(): Promise<Record<string, string>> {
  const rows: Record<string, string> = {};
  const stateDir = mkdtempSync(join(tmpdir(), "teamstack-bench-console-"));
  const { url, child } = await startServe(stateDir);
  const token = (admin: boolean) =>
    execFileSync(
      process.execPath,
      [
        BIN,
        "token",
        "--team",
        "bench",
        "--member",
        "alice",
        ...(admin ? ["--admin"] : []),
        "--state-dir",
        stateDir,
      ],
      { cwd: ROOT, encoding: "utf8" },
    ).trim();
  const admin = token(true);
  const member = token(false);
  const call = async (method: string, path: string, body?: string) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}` },
      ...(body !== undefined ? { body } : {}),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    // 100 of alice's stacks, three sim servers each, made through the API as a member's would be.
    await call("PUT", "/teams/bench/templates/dev", TEMPLATE);
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: STACKS }, (_, i) =>
        call(
          "POST",
          "/teams/bench/stacks",
          JSON.stringify({ template: "dev", member: "alice", name: `s-${String(i).padStart(3, "0")}` }),
        ),
      ),
    );
    for (;;) {
      const list = (await call("GET", "/teams/bench/stacks")) as { status: string }[];
      if (list.length === STACKS && list.every((s) => s.status !== "RUNNING")) {
        const bad = list.filter((s) => s.status !== "SUCCEEDED");
        if (bad.length > 0) throw new Error(`${bad.length} stacks did not succeed`);
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    rows.stacks = `${STACKS} of one member's, ${STACKS * 3} sim servers (made through the API in ${((Date.now() - t0) / 1000).toFixed(1)} s)`;

    const cold: number[] = [];
    // The CPU time the page's main thread used to interactive (Chromium's ThreadTime): what the
    // console costs, apart from waiting for the network and for a CPU that other processes share.
    const busy: number[] = [];
    const warm: number[] = [];
    let transfer: { total: number; files: number; api: number; requests: number } | undefined;
    for (let run = 0; run < LOADS; run++) {
      // A new context: empty cache, as a first visit.
      const context = await browser.newContext();
      await context.addInitScript((t: string) => sessionStorage.setItem("teamstack.token", t), member);
      await context.addInitScript(watchInteractive, STACKS);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send("Performance.enable");
      const finished: Promise<{ url: string; bytes: number }>[] = [];
      page.on("requestfinished", (req) => {
        finished.push(
          req.sizes().then((s) => ({ url: req.url(), bytes: s.responseBodySize + s.responseHeadersSize })),
        );
      });
      await page.goto(url, { waitUntil: "commit" });
      await page.waitForFunction(() => (window as unknown as { tti?: number }).tti !== undefined, null, {
        timeout: 30_000,
        polling: 50,
      });
      cold.push(await page.evaluate(() => (window as unknown as { tti: number }).tti));
      const { metrics } = await cdp.send("Performance.getMetrics");
      busy.push((metrics.find((x) => x.name === "ThreadTime")?.value ?? 0) * 1000);
      // Clickable for Playwright too (visible, enabled, receives the pointer).
      await page.locator("tbody tr td.actions button").first().click({ trial: true });
      if (run === 0) {
        const sizes = await Promise.all(finished);
        const files = sizes.filter((s) => !new URL(s.url).pathname.startsWith("/teams/"));
        const sum = (xs: { bytes: number }[]) => xs.reduce((a, s) => a + s.bytes, 0);
        transfer = {
          total: sum(sizes),
          files: sum(files),
          api: sum(sizes) - sum(files),
          requests: sizes.length,
        };
      }
      // The same page again in this context: the hashed assets come from the cache.
      await page.reload({ waitUntil: "commit" });
      await page.waitForFunction(() => (window as unknown as { tti?: number }).tti !== undefined, null, {
        timeout: 30_000,
        polling: 50,
      });
      warm.push(await page.evaluate(() => (window as unknown as { tti: number }).tti));
      await context.close();
    }
    const m = median(cold);
    rows[`time to interactive, first visit (stacks list rendered, a button clickable; median of ${LOADS})`] =
      `**${m.toFixed(0)} ms** (${Math.min(...cold).toFixed(0)}-${Math.max(...cold).toFixed(0)}; goal < ${TTI_GOAL_MS} ms)`;
    rows["main-thread CPU time of the first visit, to interactive (Chromium's ThreadTime)"] =
      `${median(busy).toFixed(0)} ms (${Math.min(...busy).toFixed(0)}-${Math.max(...busy).toFixed(0)})`;
    rows["machine load while measuring (1-minute load average, 2 cores)"] = loadavg()[0]?.toFixed(1) ?? "?";
    rows[`time to interactive, reload with cached assets (median of ${LOADS})`] =
      `${median(warm).toFixed(0)} ms (${Math.min(...warm).toFixed(0)}-${Math.max(...warm).toFixed(0)})`;
    if (transfer) {
      rows["transfer size of the first visit (bytes over the wire, headers included)"] =
        `**${kb(transfer.total)}** in ${transfer.requests} requests: console files ${kb(transfer.files)} (gzip), API answers ${kb(transfer.api)}`;
    }
  } finally {
    await browser.close();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await stopLocalStore(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
