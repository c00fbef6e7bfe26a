import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFileServerLogs, removeStackLogs } from "../../../src/local/server-logs.ts";
import {
  decodePage,
  LOG_LIMIT_BYTES,
  LOG_TAIL_BYTES,
  type LogKey,
  LogShaper,
} from "../../../src/ports/server-logs.ts";

const SECRET = "s3cr3t-Value/with+chars";
const text = (parts: readonly Uint8Array[]) => Buffer.concat(parts).toString("utf8");

/** Every form of SECRET a log must not show. */
function forms(): string[] {
  const b64 = Buffer.from(SECRET).toString("base64").replace(/=+$/, "");
  return [
    SECRET,
    b64,
    b64.replaceAll("+", "-").replaceAll("/", "_"),
    Buffer.from(SECRET).toString("hex"),
    Buffer.from(SECRET).toString("hex").toUpperCase(),
    encodeURIComponent(SECRET),
  ];
}

describe("LogShaper", () => {
  it("masks a secret and its base64, hex and URL encodings, however the output is split", () => {
    const output = forms()
      .map((f) => `value: ${f}\n`)
      .join("");
    for (const size of [1, 2, 3, 7, 13, output.length]) {
      const shaper = new LogShaper([SECRET]);
      const kept: Uint8Array[] = [];
      for (let i = 0; i < output.length; i += size) kept.push(shaper.push(output.slice(i, i + size)));
      kept.push(shaper.end());
      const log = text(kept);
      for (const f of forms()) expect(log, `split every ${size}`).not.toContain(f);
      // A base64 form keeps its last character, which carries bits of whatever follows.
      expect(log.split("\n").filter((l) => /^value: \*\*\*.?$/.test(l))).toHaveLength(forms().length);
    }
  });

  it("passes text on as it comes, holding back only what could start a secret", () => {
    const shaper = new LogShaper([SECRET]);
    expect(text([shaper.push("first line\n".padEnd(200, "."))])).toContain("first line");
    const held = shaper.push(`x ${SECRET.slice(0, 6)}`);
    expect(Buffer.from(held).toString()).not.toContain(SECRET.slice(0, 6));
    expect(text([shaper.push(`${SECRET.slice(6)} y\n`), shaper.end()])).toContain("*** y");
  });

  it("keeps at most the limit: the head as it comes, then a line saying what was cut and the last bytes", () => {
    const shaper = new LogShaper([]);
    const kept: Uint8Array[] = [];
    const line = (i: number) => `line ${String(i).padStart(7, "0")} ${"é".repeat(20)}\n`;
    let total = 0;
    let i = 0;
    while (total < 3 * LOG_LIMIT_BYTES) {
      const l = line(i++);
      total += Buffer.byteLength(l);
      kept.push(shaper.push(l));
    }
    const whileRunning = Buffer.concat(kept).length;
    expect(whileRunning).toBeLessThanOrEqual(LOG_LIMIT_BYTES - LOG_TAIL_BYTES);
    kept.push(shaper.end());
    const all = Buffer.concat(kept);
    expect(all.length).toBeLessThanOrEqual(LOG_LIMIT_BYTES);
    expect(shaper.truncated).toBe(true);
    const log = all.toString("utf8");
    expect(log).not.toContain("\uFFFD");
    expect(log.startsWith(line(0))).toBe(true);
    expect(log.endsWith(line(i - 1))).toBe(true);
    expect(log).toMatch(/\[teamstack\] \.\.\. \d+ bytes cut here to keep this attempt within 1048576 bytes/);
  });

  it("keeps a short output whole, with no marker", () => {
    const shaper = new LogShaper([]);
    expect(text([shaper.push("a\n"), shaper.push("b\n"), shaper.end()])).toBe("a\nb\n");
    expect(shaper.truncated).toBe(false);
  });
});

describe("decodePage", () => {
  it("stops before a character cut by the page's end, unless the text ends there", () => {
    const bytes = Buffer.from("ab€");
    expect(decodePage(bytes.subarray(0, 4), false)).toEqual({ text: "ab", used: 2 });
    expect(decodePage(bytes, false)).toEqual({ text: "ab€", used: 5 });
  });
});

describe("the file ServerLogs", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const key: LogKey = { team: "acme", stackId: "s-1", subject: { kind: "server", name: "web" } };

  it("numbers attempts, reads from an offset, marks the end, and keeps its files private", async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-logs-"));
    const logs = createFileServerLogs(dir);
    expect(await logs.read(key)).toBeUndefined();
    const first = await logs.open(key, "user_data", [SECRET]);
    first.write(`one ${SECRET.slice(0, 4)}`);
    first.write(`${SECRET.slice(4)} two\n`);
    const running = await logs.read(key);
    expect(running).toMatchObject({ attempt: 1, attempts: 1, complete: false });
    await first.end(0);
    const done = await logs.read(key);
    expect(done).toMatchObject({
      attempt: 1,
      complete: true,
      exitCode: 0,
      kind: "user_data",
      text: "one *** two\n",
    });
    const second = await logs.open(key, "on_start", []);
    second.write("again\n");
    await second.end(3);
    expect(await logs.read(key)).toMatchObject({ attempt: 2, attempts: 2, text: "again\n", exitCode: 3 });
    expect(await logs.read(key, { attempt: 1, after: 4 })).toMatchObject({ offset: 4, text: "*** two\n" });
    expect(await logs.read(key, { attempt: 3 })).toBeUndefined();
    const where = join(dir, "logs", "acme", "s-1", "server.web");
    for (const name of await readdir(where)) {
      expect(((await stat(join(where, name))).mode & 0o777).toString(8), name).toBe("600");
      expect(await readFile(join(where, name), "utf8"), name).not.toContain(SECRET);
    }
    expect(((await stat(where)).mode & 0o777).toString(8)).toBe("700");
  });

  it("keeps a 3 MiB output within the bound, and a reader paging through it gets all that is kept", async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-logs-"));
    const logs = createFileServerLogs(dir);
    const writer = await logs.open(key, "user_data", []);
    const chunk = `${"x".repeat(1023)}\n`;
    for (let i = 0; i < 3 * 1024; i++) writer.write(chunk);
    writer.write("the very end\n");
    await writer.end(0);
    let after = 0;
    let all = "";
    for (;;) {
      const page = await logs.read(key, { after });
      if (!page) throw new Error("no page");
      all += page.text;
      after = page.next;
      if (page.complete) {
        expect(page.truncated).toBe(true);
        expect(page.limitBytes).toBe(LOG_LIMIT_BYTES);
        break;
      }
    }
    expect(Buffer.byteLength(all)).toBeLessThanOrEqual(LOG_LIMIT_BYTES);
    expect(all.endsWith("the very end\n")).toBe(true);
    expect(all).toContain("bytes cut here");
  });

  it("refuses a name that could leave its directory", async () => {
    dir = await mkdtemp(join(tmpdir(), "teamstack-logs-"));
    const logs = createFileServerLogs(dir);
    await expect(
      logs.open({ ...key, subject: { kind: "server", name: "../../etc" } }, "user_data", []),
    ).rejects.toThrow('cannot keep a log for the server "../../etc": expected 1 to 128 letters');
    // Removing a stack's logs checks its names the same way, and touches nothing outside.
    await writeFile(join(dir, "outside"), "kept");
    await expect(removeStackLogs(join(dir, "logs"), { team: "..", stackId: "outside" })).rejects.toThrow(
      'cannot remove the logs for the team "..": expected 1 to 128 letters',
    );
    await expect(removeStackLogs(dir, { team: "t", stackId: "a/b" })).rejects.toThrow(
      'cannot remove the logs for the stack id "a/b"',
    );
    expect(await readFile(join(dir, "outside"), "utf8")).toBe("kept");
  });
});
